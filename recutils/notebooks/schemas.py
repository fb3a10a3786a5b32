"""Each notebook's parameters as a typed config, checked before the first cell runs.

The ``parameters`` cell of ``notebooks/NN_name.py`` holds the defaults (literals papermill
overrides); the dataclass here states what each parameter accepts, with the same
:func:`recutils.config.param` constraints the models' configs use. :func:`check_schema` runs on
the cell's defaults and the params file's values in :func:`recutils.notebooks.params.notebook_params`
(``run``, ``reproduce``, ``golden``, the audit), so ``alphas: [1.5]`` in
``params/05_hybrid.full.yaml`` stops in one line — the file, the parameter and the rule — before
any embedding, fine-tune or grid search. ``tests/test_notebook_schemas.py`` keeps the schemas and
the parameters cells in step (every declared parameter has a field, every field a parameter).
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any

from ..config import field_problem, param
from ..errors import RecutilsError

# --- reusable rules ---------------------------------------------------------------------------------


def _grid(v) -> bool:
    """``{"name": [values...], ...}``: a parameter grid (every list non-empty)."""
    return isinstance(v, dict) and bool(v) and all(isinstance(k, str) and isinstance(x, list) and x for k, x in v.items())


def _str_keys(v) -> bool:
    return isinstance(v, dict) and all(isinstance(k, str) for k in v)


def _config_overrides(import_path: str):
    """A mapping of overrides valid for the config class at ``import_path`` (``module:Class``)."""

    def check(v) -> bool:
        if not _str_keys(v):
            return False
        import importlib

        from ..config import build_config

        mod, cls = import_path.split(":")
        config_cls = getattr(importlib.import_module(mod), cls)
        names = {f.name for f in dataclasses.fields(config_cls)}
        if set(v) - names:
            return False
        try:
            build_config(config_cls, cls, v)
        except Exception:
            return False
        return True

    return check


def _ablation_grids(v) -> bool:
    """Overrides of notebook 06's ablation grids: known keys, the default's kind of value."""
    if not _str_keys(v):
        return False
    from ..experiments.coldstart_ablations import DEFAULT_GRIDS

    return all(k in DEFAULT_GRIDS and (isinstance(x, list) and bool(x)) == isinstance(DEFAULT_GRIDS[k], list)
               for k, x in v.items())


def _threads(v) -> bool:
    return v == "auto" or (isinstance(v, str) and v.isdigit())


GRID = dict(check=_grid, expect="a mapping of parameter name → a non-empty list of values")
FINETUNE = dict(check=_config_overrides("recutils.embeddings.finetune:FinetuneConfig"),
                expect="fields of recutils.embeddings.finetune.FinetuneConfig with valid values")
TORCH_CF = dict(check=_config_overrides("recutils.models.torch_cf.config:TorchCFConfig"),
                expect="fields of recutils.models.torch_cf.TorchCFConfig with valid values")
THREADS = dict(check=_threads, expect="'auto' or a whole number as text ('1', '2'; '0': torch's default)")
NON_EMPTY = dict(check=lambda v: bool(str(v).strip()), expect="a non-empty text")


@dataclass(kw_only=True)
class _Common:
    output_dir: str = param(**NON_EMPTY)
    data_dir: str | None = None
    seed: int = param(ge=0)


@dataclass(kw_only=True)
class ItemCFParams(_Common):  # 01_item_cf
    k: int = param(ge=1)
    n_users: int = param(ge=0)
    example_movies: list = param(min_len=1, ge=1)
    example_user: int = param(ge=1)
    n_similar: int = param(ge=1)
    shrinkage: float = param(ge=0)
    min_support: int = param(ge=1)
    ease_lambdas: list = param(min_len=1, gt=0)
    itemcf_kinds: list = param(min_len=1, check=lambda v: set(v) <= {"cosine", "pearson"}, expect="'cosine' / 'pearson'")
    itemcf_centres: list = param(min_len=1)
    itemcf_normalize: list = param(min_len=1)
    itemknn_grid: dict = param(**GRID)
    seeds: list = param(min_len=1, ge=0)
    ease_r_grid: dict = param(**GRID)
    als_grid: dict = param(**GRID)
    ks: list = param(min_len=1, ge=1)
    n_boot: int = param(ge=100)
    workers: int = param(ge=1)


@dataclass(kw_only=True)
class TfidfParams(_Common):  # 02_tfidf_search
    k: int = param(ge=1)
    n_movies: int = param(ge=0)
    min_tag_movies: int = param(ge=1)
    max_queries: int = param(ge=0)
    ngram_max: int = param(ge=1, le=3)
    max_df: float = param(gt=0, le=1)
    sublinear_tf: bool = True
    prompts: list = param(min_len=1)
    title_queries: list = param(min_len=1)


@dataclass(kw_only=True)
class SemanticParams(_Common):  # 03_semantic_search
    k: int = param(ge=1)
    n_movies: int = param(ge=0)
    min_tag_movies: int = param(ge=1)
    max_queries: int = param(ge=0)
    models: list = param(min_len=1)
    batch_size: int = param(ge=1)
    progress: bool = True
    rrf_c: float = param(gt=0)
    rrf_depth: int = param(ge=1)
    n_bootstrap: int = param(ge=100)
    prompts: list = param(min_len=1)
    n_latency_prompts: int = param(ge=0)
    n_breakdown_prompts: int = param(ge=0)
    latency_threads: list = param(min_len=1, ge=1)
    backend: str = param(choices=("torch", "onnx-int8", "onnx-fp32"))
    guard_movies: int = param(ge=0)


@dataclass(kw_only=True)
class TorchCFParams(_Common):  # 04_torch_cf
    k: int = param(ge=1)
    n_users: int = param(ge=0)
    progress: bool = True
    torch_params: dict = param(**TORCH_CF)
    torch_grid: dict = param(check=lambda v: isinstance(v, dict) and bool(v) and all(_str_keys(x) for x in v.values()),
                             expect="a mapping of label → TorchCFConfig overrides (at least one)")
    bias_regs: list = param(min_len=1, ge=0)
    mf_grid: dict = param(**GRID)
    ease_lambda: float = param(gt=0)
    cold_share: float = param(gt=0, lt=1)
    measure_threads: bool = True
    thread_repeats: int = param(ge=1)
    thread_batches: int = param(ge=1)
    workers: int = param(ge=1)


@dataclass(kw_only=True)
class HybridParams(_Common):  # 05_hybrid
    k: int = param(ge=1)
    n_users: int = param(ge=0)
    progress: bool = True
    cache_dir: str | None = None
    use_cache: bool = True
    embed_all_movies: bool = True
    embedding_models: list = param(min_len=1)
    finetune_models: list = param(min_len=0)
    embedding_device: str = param(**NON_EMPTY)
    torch_threads: str = param(**THREADS)
    embedding_dtype: str = param(choices=("float32", "float16", "bfloat16"))
    qwen_4bit: bool = True
    text: str = param(**NON_EMPTY)
    overview_text: bool = True
    finetune: dict = param(**FINETUNE)
    qwen_batch_size: int = param(ge=1)
    alpha_study: float = param(ge=0, le=1)
    alphas: list = param(min_len=1, ge=0, le=1)
    ease_lambdas: list = param(min_len=1, gt=0)
    ease_r_lambdas: list = param(min_len=1, gt=0)
    ease_r_powers: list = param(min_len=1, gt=0)
    itemknn_grid: dict = param(**GRID)
    als_grid: dict = param(**GRID)
    blend_shortlist: int = param(ge=1)
    cold_share: float = param(gt=0, lt=1)
    n_boot: int = param(ge=100)
    seeds: list = param(min_len=1, ge=0)
    workers: int = param(ge=1)
    demo_user: int = param(ge=0)


@dataclass(kw_only=True)
class ColdStartParams(_Common):  # 06_cold_start
    k: int = param(ge=1)
    n_users: int = param(ge=0)
    progress: bool = True
    cache_dir: str | None = None
    embed_all_movies: bool = True
    torch_threads: str = param(**THREADS)
    cold_share: float = param(gt=0, lt=1)
    val_share: float = param(gt=0, lt=1)
    text_embeddings: dict = param(check=lambda v: isinstance(v, dict) and bool(v) and all(
        isinstance(x, list) and len(x) in (2, 3) and all(isinstance(s, str) and s for s in x)
        and (len(x) == 2 or x[2] in ("torch", "onnx-int8", "onnx-fp32")) for x in v.values()),
        expect="a mapping of label → [model name, text spec] or [model name, text spec, backend] with backend "
               "'torch' / 'onnx-int8' / 'onnx-fp32' (at least one)")
    finetune_model: str = param(**NON_EMPTY)
    finetune: dict = param(**FINETUNE)
    cf_pairs: int = param(ge=1)
    cf_finetune: dict = param(**FINETUNE)
    ease_lambda: float = param(gt=0)
    ridge_lambdas: list = param(min_len=1, gt=0)
    text_weights: list = param(min_len=1, gt=0)
    als_factors: int = param(ge=1)
    mlp_grid: dict = param(**GRID)
    torch_params: dict = param(**TORCH_CF)
    text_dims: list = param(min_len=1, ge=1)
    warm_rows: bool = True
    n_boot: int = param(ge=100)
    seeds: list = param(min_len=1, ge=0)
    workers: int = param(ge=1)
    seed_mlp_grid: dict = param(**GRID)
    ablation_seeds: list = param(min_len=1, ge=0, check=lambda v: len(set(v)) == len(v), expect="distinct seeds")
    ablation_texts: list = param(min_len=1, check=lambda v: all(isinstance(x, str) and x for x in v),
                                 expect="labels of text_embeddings")
    ablation_cf_finetune: bool = True
    release_day_texts: list = param(min_len=1, check=lambda v: all(isinstance(x, str) and x for x in v),
                                    expect="labels of ablation_texts (texts without user tags)")
    ablation_grids: dict = param(check=_ablation_grids, expect="overrides of recutils.experiments.coldstart_ablations."
                                 "DEFAULT_GRIDS (known keys, non-empty lists)")
    curve_hiddens: list = param(min_len=0, ge=1)
    curve_epochs: list = param(min_len=0, ge=1)


@dataclass(kw_only=True)
class ScaleParams(_Common):  # 07_scale
    dataset: str = ""
    sizes: list = param(min_len=0, ge=1000)
    k: int = param(ge=1)
    eval_users: int = param(ge=0)
    batch_size: int = param(ge=1)
    factors: int = param(ge=1)
    iterations: int = param(ge=1)
    alpha: float = param(gt=0)
    als_regularization: list = param(min_len=1, ge=0)
    spark_regularization: list = param(min_len=1, ge=0)
    spark_master: str = param(**NON_EMPTY)
    spark_conf: str = ""
    flat_grid: list = param(min_len=1, gt=0)  # §3b: λ without ALS-WR
    wr_grid: list = param(min_len=1, gt=0)  # §3b: λ with ALS-WR
    ease_lambda: float = param(gt=0)
    ease_max_items: int = param(ge=1)
    sansa_density: float = param(gt=0, le=1)
    use_sansa: bool = True
    n_boot: int = param(ge=100)
    workers: int = param(ge=1)


#: notebook name → its parameters' schema
SCHEMAS: dict[str, type] = {
    "01_item_cf": ItemCFParams, "02_tfidf_search": TfidfParams, "03_semantic_search": SemanticParams,
    "04_torch_cf": TorchCFParams, "05_hybrid": HybridParams, "06_cold_start": ColdStartParams, "07_scale": ScaleParams,
}


def check_schema(name: str, values: dict[str, Any], where: str) -> None:
    """Raise one :class:`RecutilsError` line (``"<where>: alphas must list values in [0, 1], got [1.5]"``)
    for the first parameter in ``values`` that breaks its notebook's schema; notebooks without a
    schema get the type checks of :mod:`recutils.notebooks.params` only."""
    schema = SCHEMAS.get(name)
    if schema is None:
        return
    hints = typing.get_type_hints(schema)
    for f in dataclasses.fields(schema):
        if f.name not in values:
            continue
        v = values[f.name]
        problem = field_problem(v, hints.get(f.name), f.metadata)
        if problem:
            raise RecutilsError(f"{where}: {f.name} {problem}, got {v!r}")
