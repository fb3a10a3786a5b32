"""Model config validation: one declarative path (recutils.config) for every model."""

import dataclasses
import json
import math
import subprocess
import sys
import typing

import pytest

from recutils import tuning
from recutils.errors import ConfigError, RecutilsError
from recutils.io import dumps_json
from recutils.models import available, check_params, create, get_model_class
from recutils.config import field_problem, param, validate_config

NUMBER_TYPES = (int, float, int | None, float | None, list[int])


def _fields(name):
    cls = get_model_class(name)
    hints = typing.get_type_hints(cls.Config)
    return [(f, hints[f.name]) for f in dataclasses.fields(cls.Config)]


@pytest.mark.parametrize("name", available())
def test_defaults_are_valid_and_unchanged(name):
    m = create(name)
    assert m.config == get_model_class(name).Config()  # validation never rewrites a value
    assert check_params(name) == m.config


@pytest.mark.parametrize("name", available())
def test_every_numeric_field_declares_a_constraint(name):
    """A new model cannot forget: every int / float field says what it accepts."""
    undeclared = [f.name for f, t in _fields(name)
                  if t in NUMBER_TYPES and not {"ge", "gt", "le", "lt", "choices", "check"} & set(f.metadata)]
    assert not undeclared, f"{name}: declare constraints (param(..., ge=...)) for {undeclared}"


@pytest.mark.parametrize("name", available())
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_floats_are_rejected_everywhere(name, bad):
    for f, t in _fields(name):
        if t in (float, float | None):
            with pytest.raises(ConfigError, match=f"{f.name} must be a finite number"):
                create(name, **{f.name: bad})


@pytest.mark.parametrize("name,params,field,allowed", [
    ("ease", {"lambda_": -5.0}, "lambda_", "> 0"),
    ("ease", {"lambda_": 0}, "lambda_", "> 0"),
    ("ease_r", {"power": -1.0}, "power", "≥ 0"),
    ("ease_r", {"rating_scale": 0.0}, "rating_scale", "> 0"),
    ("itemknn", {"n_neighbors": -1}, "n_neighbors", "≥ 0"),
    ("itemknn", {"shrinkage": -0.5}, "shrinkage", "≥ 0"),
    ("pmf", {"k": 0}, "k", "≥ 1"),
    ("pmf", {"max_iter": 0}, "max_iter", "≥ 1"),
    ("pmf", {"learning_rate": 0.0}, "learning_rate", "> 0"),
    ("pmf", {"lambda_reg": -0.1}, "lambda_reg", "≥ 0"),
    ("pmf", {"seed": -1}, "seed", "≥ 0"),
    ("als", {"factors": 0}, "factors", "≥ 1"),
    ("als", {"alpha": 0.0}, "alpha", "> 0"),
    ("als", {"iterations": 0}, "iterations", "≥ 1"),
    ("als", {"num_threads": -1}, "num_threads", "≥ 0"),
    ("itemcf", {"kind": "jaccard"}, "kind", "one of 'cosine', 'pearson'"),
    ("itemcf", {"min_support": 0}, "min_support", "≥ 1"),
    ("itemcf", {"centre": "median"}, "centre", "'user', 'none' or a finite number"),
    ("itemcf", {"centre": float("inf")}, "centre", "'user', 'none' or a finite number"),
    ("bias", {"reg_item": -1.0}, "reg_item", "≥ 0"),
    ("bias", {"n_sweeps": 0}, "n_sweeps", "≥ 1"),
    ("cornac_mf", {"k": 0}, "k", "≥ 1"),
    ("cornac_mf", {"learning_rate": -1.0}, "learning_rate", "> 0"),
    ("torch_cf", {"dropout": 1.0}, "dropout", "in [0, 1)"),
    ("torch_cf", {"lr_decay": 1.5}, "lr_decay", "in (0, 1]"),
    ("torch_cf", {"batch_size": 1}, "batch_size", "≥ 2"),
    ("torch_cf", {"hidden": [8, 0]}, "hidden", "values ≥ 1"),
    ("torch_cf", {"hidden": []}, "hidden", "at least 1 element"),
    ("torch_cf", {"emb_lr": 0.0}, "emb_lr", "> 0"),
    ("content", {"finetune": {"learning_rate": 0.0}}, "finetune.learning_rate", "> 0"),
    ("content", {"finetune": {"epochs": 0}}, "finetune.epochs", "> 0"),
    ("hybrid", {"content": {"finetune": {"batch_size": 1}}}, "content.finetune.batch_size", "≥ 2"),
    ("content", {"dtype": "int8"}, "dtype", "one of 'float32'"),
    ("content", {"text": "title+plot"}, "text", "'study', 'study+overview'"),
    ("hybrid", {"alpha": 1.5}, "alpha", "in [0, 1]"),
    ("hybrid", {"base_norm": "nope"}, "base_norm", "one of 'all', 'candidates'"),
    ("hybrid", {"base": "content"}, "base", "collaborative"),
    ("hybrid", {"base": "nope"}, "base", "collaborative"),
])
def test_out_of_range_values_name_model_field_value_and_range(name, params, field, allowed):
    with pytest.raises(ConfigError) as e:
        create(name, **params)
    msg = str(e.value)
    assert f"model {name!r}" in msg and field in msg and allowed in msg
    value = next(iter(params.values()))
    while isinstance(value, dict):  # a nested config: the innermost value is named
        value = next(iter(value.values()))
    assert (repr(value) in msg or repr(float(value)) in msg) and "\n" not in msg


def test_boundaries_and_none_are_accepted():
    assert create("itemknn", n_neighbors=0, shrinkage=0.0).config.n_neighbors == 0
    assert create("ease_r", power=0).config.power == 0
    assert create("torch_cf", dropout=0.0, lr_decay=1.0, emb_lr=None).config.emb_lr is None
    assert create("hybrid", alpha=0.0).config.alpha == 0.0 and create("hybrid", alpha=1).config.alpha == 1
    assert create("itemcf", centre=-1.5).config.centre == -1.5 and create("itemcf", centre="none").config.centre == "none"
    assert create("content", text="title+overview").config.text == "title+overview"


@pytest.mark.parametrize("name,params,words", [
    ("als", {"use_ratings": 1}, "true or false"),
    ("pmf", {"k": 2.5}, "whole number"),
    ("pmf", {"k": True}, "whole number"),
    ("ease", {"lambda_": "300"}, "must be a number"),
    ("itemcf", {"centre": "2"}, "'user', 'none' or a finite number"),
    ("torch_cf", {"hidden": [8, "x"]}, "whole number"),
])
def test_wrong_types_are_config_errors(name, params, words):
    with pytest.raises(ConfigError, match=words):
        create(name, **params)


def test_all_problems_in_one_message_and_unknown_names():
    with pytest.raises(ConfigError, match=r"k must be ≥ 1, got 0; learning_rate must be > 0, got -1"):
        create("pmf", k=0, learning_rate=-1)
    with pytest.raises(ConfigError, match=r"no parameter\(s\) \['alpha'\]; valid: lambda_"):
        create("ease", alpha=1.0)


def test_direct_construction_and_a_passed_config_are_validated_too():
    from recutils.models.baselines import EASE, EASEConfig

    with pytest.raises(ConfigError, match="lambda_"):
        EASE(lambda_=-1)
    with pytest.raises(ConfigError, match="lambda_"):
        EASE(EASEConfig(lambda_=float("nan")))
    with pytest.raises(ConfigError, match="lambda_"):
        EASE(EASEConfig(), lambda_=0)
    assert isinstance(ConfigError("x"), RecutilsError)


def test_hybrid_base_params_are_checked_at_construction():
    with pytest.raises(ConfigError, match=r"hybrid' base: model 'ease': lambda_ must be > 0"):
        create("hybrid", base={"name": "ease", "params": {"lambda_": -3.0}})
    with pytest.raises(RecutilsError, match="no parameter"):
        create("hybrid", base={"name": "ease", "params": {"nope": 1}})
    h = create("hybrid", base={"name": "ease", "params": {"lambda_": "3"}})  # strings typed by the base's config
    assert h.config.base.params == {"lambda_": 3.0}


def test_nested_configs_from_key_value_strings():
    from recutils.config import parse_params

    cls = get_model_class("hybrid")
    p = parse_params(cls, ["base=ease", "base.lambda_=300", "content.finetune=true", "content.finetune.epochs=1"])
    h = create("hybrid", **p)
    assert (h.config.base.name, h.config.base.params) == ("ease", {"lambda_": 300.0})
    assert h.config.content.finetune.epochs == 1 and h.config.content.finetune.batch_size == 16
    assert create("hybrid", **parse_params(cls, ["content.finetune=false"])).config.content.finetune is None
    with pytest.raises(ConfigError, match="content has no parameter 'nope'"):
        parse_params(cls, ["content.nope=1"])
    with pytest.raises(ConfigError, match="finetune takes true/false"):
        parse_params(cls, ["content.finetune=maybe"])
    d = h.config_dict()
    assert d.pop("model") == "hybrid" and create("hybrid", **d).config == h.config  # round trip


def test_mechanism_on_a_new_config():
    @dataclasses.dataclass
    class NewConfig:
        rate: float = param(0.1, gt=0, le=1)
        size: int = dataclasses.field(default=4, metadata={"ge": 1})
        mode: str = param("a", choices=("a", "b"))
        flag: bool = False

    validate_config(NewConfig(), "model 'new'")
    with pytest.raises(ConfigError, match=r"^model 'new': rate must be in \(0, 1\], got 2; size must be ≥ 1, got 0$"):
        validate_config(NewConfig(rate=2, size=0), "model 'new'")
    assert field_problem("c", str, {"choices": ("a", "b")}) == "must be one of 'a', 'b'"
    assert field_problem(math.nan, None, {}) == "must be a finite number"


def test_grid_search_rejects_a_bad_value_before_fitting_anything():
    # split=None: validation must fail before the split is touched
    with pytest.raises(ConfigError, match="lambda_ must be > 0, got -5"):
        tuning.grid_search("ease", None, {"lambda_": [100.0, -5.0]})
    with pytest.raises(ConfigError, match="finite"):
        tuning.grid_search("itemknn", None, {"n_neighbors": [10]}, fixed={"shrinkage": math.nan})


def test_dumps_json_is_strict_json():
    s = dumps_json({"a": math.nan, "b": [math.inf, 1.5], "c": {"d": -math.inf}, "e": "x"})
    assert json.loads(s) == {"a": None, "b": [None, 1.5], "c": {"d": None}, "e": "x"}
    assert "NaN" not in s and "Infinity" not in s


def _strict_loads(s):
    def no_constants(c):
        raise ValueError(f"not JSON: {c}")

    return json.loads(s, parse_constant=no_constants)


@pytest.mark.parametrize("argv,words", [
    (["--grid", "lambda_=100,-5"], "lambda_ must be > 0, got -5.0"),
    (["--grid", "lambda_=nan"], "lambda_ must be a finite number, got nan"),
    (["--grid", "lambda_=inf,100"], "finite"),
    (["--grid", "lambda_=0"], "> 0"),
    (["--grid", "lambda_="], "lists no values"),
    (["--grid", "lambda_"], "key=v1,v2"),
    (["--grid", "lambda_=1", "--grid", "lambda_=2"], "given twice"),
    (["--grid", "alpha=1"], "valid: lambda_"),
    (["--grid", "lambda_=abc"], "expected float"),
    (["--grid", "lambda_=100", "--k", "0"], "--k must be a positive whole number, got 0"),
    (["--grid", "lambda_=100", "--protocol", "nope"], "valid protocols"),
])
def test_tuning_cli_bad_grid_is_one_line_error(argv, words, capsys):
    assert tuning.main(["--model", "ease", *argv]) == 2
    cap = capsys.readouterr()
    assert cap.out == ""
    lines = cap.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0]
    assert "Traceback" not in cap.err


def test_tuning_cli_other_models_values(capsys):
    assert tuning.main(["--model", "itemknn", "--grid", "n_neighbors=50,-1"]) == 2
    assert "model 'itemknn': n_neighbors must be ≥ 0, got -1" in capsys.readouterr().err
    assert tuning.main(["--model", "pmf", "--grid", "k=0"]) == 2
    assert "model 'pmf': k must be ≥ 1, got 0" in capsys.readouterr().err


def test_tuning_cli_output_is_strict_json(capsys):
    assert tuning.main(["--model", "ease", "--grid", "lambda_=300"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert _strict_loads(lines[0])["lambda_"] == 300.0
    assert _strict_loads(lines[-1].split(": ", 1)[1]) == {"lambda_": 300.0}


def test_tuning_cli_process_exits_2_without_traceback():
    p = subprocess.run([sys.executable, "-m", "recutils.tuning", "--model", "ease", "--grid", "lambda_=-5"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.strip() == "error: model 'ease': lambda_ must be > 0, got -5.0"


def test_one_k_rule_and_one_alpha_rule():
    """``k`` has one rule and one message everywhere; ``blend``'s α is HybridConfig's rule."""
    import numpy as np

    from recutils.config import check_field, check_k
    from recutils.models.hybrid import HybridConfig, blend
    from recutils.search import check_k as search_check_k

    assert search_check_k is check_k and check_k(np.int64(3)) == 3
    for bad in (0, -1, 2.5, True, "5"):
        with pytest.raises(ConfigError, match=f"^k must be a positive whole number, got {bad!r}$"):
            check_k(bad)
    with pytest.raises(ConfigError, match="^--k must be a positive whole number, got 0$"):
        check_k(0, "--k")
    with pytest.raises(ConfigError, match=r"^alpha must be in \[0, 1\], got 1.5$"):
        blend(np.zeros((1, 2)), np.zeros((1, 2)), 1.5)
    with pytest.raises(ConfigError, match=r"^blend: alpha must be a finite number, got nan$"):
        check_field(HybridConfig, "alpha", float("nan"), "blend")
    with pytest.raises(ConfigError, match="has no field 'beta'"):
        check_field(HybridConfig, "beta", 1)
