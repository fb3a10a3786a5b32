import json

import pytest

from recutils import evaluate, tuning


def test_json_output_has_required_keys(capsys):
    assert evaluate.main(["--model", "mostpop", "--protocol", "study", "--k", "25", "--format", "json"]) == 0
    r = json.loads(capsys.readouterr().out)
    for key in ("precision", "recall", "ndcg", "n_users", "fit_seconds", "eval_seconds"):
        assert key in r
    assert r["n_users"] == 600 and round(r["precision"], 4) == 0.0875


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
])
def test_user_mistakes_give_clear_errors(argv, msg, capsys):
    assert evaluate.main(argv) == 2
    err = capsys.readouterr().err
    assert msg in err and "Traceback" not in err


def test_cold_item_protocol_restricts_to_cold_items(capsys):
    assert evaluate.main(["--model", "mostpop", "--protocol", "cold-item", "--format", "json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["protocol"] == "cold-item" and 0 < r["n_users"] <= 610


def test_tuning_picks_best_on_validation(capsys):
    assert tuning.main(["--model", "ease", "--grid", "lambda_=100,300"]) == 0
    out = capsys.readouterr().out
    assert "best on validation" in out and out.count("\n") == 3
