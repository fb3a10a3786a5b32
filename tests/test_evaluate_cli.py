import json
import subprocess
import sys

import pytest

from recutils import evaluate, tuning


def _strict_loads(s):
    def no_constants(c):
        raise ValueError(f"not JSON: {c}")

    return json.loads(s, parse_constant=no_constants)


def test_json_output_has_required_keys(capsys):
    assert evaluate.main(["--model", "mostpop", "--protocol", "study", "--k", "25", "--format", "json"]) == 0
    r = _strict_loads(capsys.readouterr().out)  # strict: no NaN / Infinity
    for key in ("precision", "recall", "ndcg", "n_users", "fit_seconds", "eval_seconds"):
        assert key in r
    assert r["n_users"] == 600 and r["precision"] == pytest.approx(1314 / 15000, abs=1e-12)


def test_json_reports_the_beyond_accuracy_metrics_the_notebooks_show(capsys, study):
    """MRR, exposure Gini, novelty, popularity and genre diversity: the same definitions as the
    notebooks' beyond-accuracy tables (recutils.evaluation.beyond), on the same lists."""
    import numpy as np

    from recutils.datasets import load_movies
    from recutils.evaluation import evaluate_ranking
    from recutils.evaluation.beyond import beyond_accuracy, genre_matrix, metrics_by_k
    from recutils.models import create

    assert evaluate.main(["--model", "mostpop", "--format", "json"]) == 0
    r = _strict_loads(capsys.readouterr().out)
    res = evaluate_ranking(create("mostpop").fit(study.without_test()), study, 25)
    want = beyond_accuracy(res.topk, study.train_binary, genres=genre_matrix(load_movies(), study.items))
    for key in ("avg_popularity", "popularity_gini", "novelty", "ild_genre"):
        assert r[key] == pytest.approx(want[key], abs=1e-12), key
    assert r["mrr"] == pytest.approx(metrics_by_k(res.topk, study.relevant()[res.users], [25])["mrr"][0], abs=1e-12)
    assert 0 < r["popularity_gini"] <= 1 and np.isfinite(r["novelty"])


def test_table_output_and_params(capsys):
    assert evaluate.main(["--model", "ease", "--param", "lambda_=300"]) == 0
    out = capsys.readouterr().out
    assert "precision@25" in out and "ease on study protocol" in out


@pytest.mark.parametrize("argv,msg", [
    (["--model", "nope"], "valid models: "),
    (["--model", "ease", "--protocol", "nope"], "valid protocols: study"),
    (["--model", "ease", "--param", "alpha=1"], "valid: lambda_"),
    (["--model", "ease", "--param", "lambda_=abc"], "expected float"),
    (["--model", "ease", "--param", "lambda_"], "key=value"),
    (["--model", "ease", "--k", "0"], "positive"),
    # out-of-range and non-finite values (issue #8): validated where the config is built
    (["--model", "ease", "--param", "lambda_=-5"], "model 'ease': lambda_ must be > 0, got -5.0"),
    (["--model", "ease", "--param", "lambda_=0"], "model 'ease': lambda_ must be > 0, got 0.0"),
    (["--model", "ease", "--param", "lambda_=nan"], "lambda_ must be a finite number, got nan"),
    (["--model", "ease", "--param", "lambda_=inf"], "lambda_ must be a finite number, got inf"),
    (["--model", "ease", "--param", "lambda_=-Infinity"], "lambda_ must be a finite number"),
    (["--model", "itemknn", "--param", "n_neighbors=-1"], "model 'itemknn': n_neighbors must be ≥ 0, got -1"),
    (["--model", "pmf", "--param", "k=0"], "model 'pmf': k must be ≥ 1, got 0"),
    (["--model", "pmf", "--param", "k=1.5"], "k: expected int"),
    (["--model", "als", "--param", "alpha=nan"], "model 'als': alpha must be a finite number"),
    (["--model", "ease_r", "--param", "power=-1"], "model 'ease_r': power must be ≥ 0"),
    (["--model", "torch_cf", "--param", "dropout=1"], "model 'torch_cf': dropout must be in [0, 1)"),
    (["--model", "torch_cf", "--param", "hidden=8,x"], "hidden: expected int, got 'x'"),
    (["--model", "torch_cf", "--param", "hidden=8,0"], "hidden must list values ≥ 1, got [8, 0]"),
    (["--model", "hybrid", "--param", "alpha=2"], "model 'hybrid': alpha must be in [0, 1], got 2.0"),
    (["--model", "hybrid", "--param", "base=ease", "--param", "base.lambda_=-1"], "lambda_ must be > 0"),
    (["--model", "hybrid", "--param", "content.finetune.epochs=0"], "content.finetune.epochs must be > 0"),
    (["--model", "itemcf", "--param", "centre=median"], "centre: expected 'user', 'none' or a finite number, got 'median'"),
])
def test_user_mistakes_give_clear_errors(argv, msg, capsys):
    assert evaluate.main(argv) == 2
    cap = capsys.readouterr()
    lines = cap.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and msg in lines[0]
    assert "Traceback" not in cap.err and cap.out == ""


def test_list_param_is_coerced_to_its_element_type():
    from recutils.models import get_model_class

    assert evaluate.parse_params(get_model_class("torch_cf"), ["hidden=32,16"]) == {"hidden": [32, 16]}


@pytest.mark.parametrize("value", ["-5", "nan"])
def test_process_exits_2_with_one_line_and_no_traceback(value):
    p = subprocess.run([sys.executable, "-m", "recutils.evaluate", "--model", "ease", "--param", f"lambda_={value}"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and p.stdout == "" and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and p.stderr.startswith("error: model 'ease': lambda_ must be")


def test_cold_item_protocol_restricts_to_cold_items(capsys):
    assert evaluate.main(["--model", "mostpop", "--protocol", "cold-item", "--format", "json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["protocol"] == "cold-item" and 0 < r["n_users"] <= 610


def test_tuning_picks_best_on_validation(capsys):
    assert tuning.main(["--model", "ease", "--grid", "lambda_=100,300"]) == 0
    out = capsys.readouterr().out
    assert "best on validation" in out and out.count("\n") == 3


def test_seeds_mean_interval_and_pooled_comparison(capsys):
    """--seeds: one split per seed; the mean and per-seed values agree with single-seed runs of
    the same split, and --baseline adds the pooled paired comparison."""
    import numpy as np

    from recutils.datasets import load_ratings
    from recutils.evaluation import evaluate_ranking
    from recutils.models import create
    from recutils.splits import study_split

    assert evaluate.main(["--model", "mostpop", "--seeds", "42,7", "--baseline", "random", "--format", "json"]) == 0
    r = _strict_loads(capsys.readouterr().out)
    assert r["seeds"] == [42, 7] and [row["seed"] for row in r["per_seed"]] == [42, 7]
    ratings = load_ratings()
    want = [evaluate_ranking(create("mostpop").fit(study_split(ratings, seed=s).without_test()),
                             study_split(ratings, seed=s), 25).metrics["precision"] for s in (42, 7)]
    assert [row["mostpop"]["precision"] for row in r["per_seed"]] == pytest.approx(want, abs=1e-12)
    p = r["across_seeds"]["mostpop"]["precision"]
    assert p["mean"] == pytest.approx(np.mean(want)) and p["low"] < p["mean"] < p["high"]
    assert want[0] == pytest.approx(1314 / 15000, abs=1e-12)  # seed 42 is the study's split
    comp = {c["metric"]: c for c in r["comparison"]}["precision@25"]
    assert comp["a"] == "mostpop" and comp["b"] == "random" and comp["holds"] and comp["low"] > 0
    assert evaluate.main(["--model", "mostpop", "--seeds", "42,7"]) == 0
    out = capsys.readouterr().out
    assert "2 seeds (42, 7)" in out and "per seed:" in out


@pytest.mark.parametrize("argv,msg", [
    (["--model", "ease", "--seeds", "42,x"], "--seeds must be comma-separated integers"),
    (["--model", "ease", "--seeds", "42,42"], "--seeds must list distinct integers"),
    (["--model", "ease", "--seeds", ","], "--seeds must list distinct integers"),
    (["--model", "ease", "--seeds", "1,2", "--protocol", "global-time"], "protocol 'global-time' has one cut-off"),
    (["--model", "ease", "--baseline", "mostpop"], "--baseline needs --seeds"),
    (["--model", "ease", "--seeds", "1,2", "--baseline", "nope"], "valid models: "),
    (["--model", "ease", "--seeds", "1,2", "--baseline", "ease"], "same model with the same parameters"),
])
def test_seeds_user_mistakes(argv, msg, capsys):
    assert evaluate.main(argv) == 2
    err = capsys.readouterr().err
    assert msg in err and err.count("\n") == 1
