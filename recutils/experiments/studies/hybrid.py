"""The study logic of notebook 05 (hybrid MF + LLM embeddings, ``notebooks/05_hybrid.py``), in its order:

- :class:`Encoders`, :func:`study_embeddings`: each encoder's movie embeddings, base and
  fine-tuned on the training pairs (§2); :func:`cold_item_models` the cold-item models (§7);
- :func:`reproduce_study`: PMF and the study's hybrids at its α (§3), :func:`study_table` its rows;
- :func:`tune_bases`: the CF bases, each grid chosen on validation, fitted and evaluated (§4);
- :func:`tune_hybrids`: each blend of a base with content through :func:`~..blends.tune_blend`
  (the fine-tuned one reuses the base-MiniLM choice) and the learned blend (§4);
  :func:`beyond_table` the beyond-accuracy rows (§4.1);
- :func:`paired_vs_base`: each hybrid against its own base, paired bootstrap (§5); :func:`seed_models`,
  :func:`claims_across_seeds`, :func:`seed_summary`: the repeated-split check (§6); :func:`demo_tops` (§8).

Every choice is made on validation (``choose_on_validation`` behind ``grid_search`` and
``tune_blend``); test is scored once."""

from __future__ import annotations

import dataclasses
import functools
import time
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from ...errors import RecutilsError
from ..blends import LearnedBlend, TunedBlend, apply_learned_blend, fit_learned_blend, tune_blend
from ..choose import Choice
from ..experiment import Experiment, ExperimentResult
from ..seeds import BlendCandidate, Candidate, MultiSeedResult, PooledComparison
from ..tuning import grid_search

__all__ = ["Bases", "Blends", "Encoders", "StudyRun", "beyond_rows", "beyond_table", "claims_across_seeds",
           "cold_item_models", "demo_tops", "demo_user_id", "embedding_infos", "full_scores", "item_vectors",
           "merge_results", "paired_vs_base", "reproduce_study", "result_row", "seed_models", "seed_rows", "seed_summary",
           "study_embeddings", "study_table", "tune_bases", "tune_hybrids"]

METRICS = ("precision", "recall", "ndcg", "map")


# --- §2 embeddings -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Encoders:
    """The notebook's encoder parameters (``compute_item_embeddings``); Qwen models get LoRA (4-bit base
    with ``qwen_4bit``), the Qwen batch and ``dtype``; ``threads``: from ``torch_threads.parse_threads``."""

    text: str
    seed: int
    finetune: Mapping = field(default_factory=dict)
    data_dir: object = None
    cache_dir: object = None
    progress: bool = False
    device: str = "cpu"
    dtype: str = "float32"
    use_cache: bool = True
    movie_ids: object = None
    qwen_batch_size: int = 4
    qwen_4bit: bool = True
    threads: object = None

    def finetune_config(self, model_name: str):
        """The ``finetune`` parameters as a validated FinetuneConfig for ``model_name``."""
        from ...config import build_config
        from ...embeddings.finetune import FinetuneConfig
        from ...embeddings.qwen import is_qwen

        cfg = build_config(FinetuneConfig, "params finetune", {"seed": self.seed, **self.finetune})
        if is_qwen(model_name):
            cfg = dataclasses.replace(cfg, batch_size=self.qwen_batch_size, lora=True, load_in_4bit=self.qwen_4bit,
                                      dtype=self.dtype)
        return cfg

    def finetune_configs(self, models: Sequence[str]) -> dict:
        """``{model: its FinetuneConfig as a dict}`` (for ``config.json``)."""
        return {m: dataclasses.asdict(self.finetune_config(m)) for m in models}

    def embed(self, model_name: str, finetune_on=None, text_spec: str | None = None):
        """``model_name``'s movie embeddings (fine-tuned on ``finetune_on``'s pairs); ``info["wall_seconds"]``."""
        from ...embeddings.items import compute_item_embeddings
        from ...embeddings.qwen import is_qwen
        from ...torch_threads import torch_threads

        t0 = time.perf_counter()
        with torch_threads(self.threads):
            emb = compute_item_embeddings(
                model_name, self.text if text_spec is None else text_spec, finetune_split=finetune_on,
                finetune_config=self.finetune_config(model_name) if finetune_on is not None else None,
                data_dir=self.data_dir, cache_dir=self.cache_dir, progress=self.progress,
                batch_size=self.qwen_batch_size if is_qwen(model_name) else 64, device=self.device,
                dtype=self.dtype, use_cache=self.use_cache, movie_ids=self.movie_ids)
        emb.info["wall_seconds"] = time.perf_counter() - t0
        return emb


def study_embeddings(enc: Encoders, embedding_models: Sequence[str], finetune_models: Sequence[str], train,
                     overview_text: bool = False) -> dict:
    """``{label: ItemEmbeddings}``: ``"<short> base"`` per embedding model, ``"<short> fine-tuned"``
    (pairs from ``train``) per fine-tune model, and ``"MiniLM base, +overview"`` with ``overview_text``."""
    from ...embeddings import model_label

    out = {}
    for m in embedding_models:
        out[f"{model_label(m, short=True)} base"] = enc.embed(m)
    for m in finetune_models:
        out[f"{model_label(m, short=True)} fine-tuned"] = enc.embed(m, finetune_on=train)
    if overview_text and "all-MiniLM-L6-v2" in embedding_models:
        out["MiniLM base, +overview"] = enc.embed("all-MiniLM-L6-v2", text_spec="study+overview")
    return out


def embedding_infos(embeddings: Mapping) -> dict:
    """``{label: info}`` of each embedding, fine-tuning settings left out (they go to ``config.json``)."""
    return {label: {key: v for key, v in e.info.items() if key != "finetune"} for label, e in embeddings.items()}


def cold_item_models(enc: Encoders, embeddings: Mapping, finetune_models: Sequence[str], cold_train, movies,
                     seed: int, trained: Mapping | None = None) -> tuple[dict, dict]:
    """The cold-item comparison's models (random, TMDB popularity, content on each base embedding and
    on each encoder fine-tuned on ``cold_train``'s pairs) and the fine-tunes' ``info`` (``trained``:
    those of the run that fine-tuned them in the background)."""
    from ...embeddings import model_label
    from ...models.content import Content
    from ...models.feature_baselines import MetadataPopularity, RandomScores

    models = {"random": RandomScores(seed=seed),
              "TMDB vote_count (MostPop among cold)": MetadataPopularity(column="vote_count", item_table=movies)}
    for label, e in embeddings.items():
        if label.endswith("base") or label.endswith("+overview"):
            models[f"content, {label}"] = Content(embeddings=e)
    tuned = {model_label(m, short=True): enc.embed(m, finetune_on=cold_train) for m in finetune_models}
    for short, e in tuned.items():
        models[f"content, {short} fine-tuned (cold-split train pairs)"] = Content(embeddings=e)
    return models, dict(trained) if trained is not None else embedding_infos(tuned)


# --- §3 the study reproduced ---------------------------------------------------------------------
def full_scores(model, n_users: int) -> np.ndarray:
    """The users × items score matrix of a fitted model (users ``0 … n_users − 1``)."""
    return np.asarray(model.score(np.arange(n_users)), dtype=np.float64)


def merge_results(split, k: int, *parts: Mapping) -> ExperimentResult:
    """One :class:`ExperimentResult` of several, in order (labels must not repeat)."""
    merged = {lab: r for part in parts for lab, r in part.items()}
    if len(merged) != sum(len(p) for p in parts):
        raise RecutilsError("a label was evaluated twice: the results cannot be merged")
    return ExperimentResult(merged, split, k)


@dataclass
class StudyRun:
    """The study's rows: PMF, a Content model per embedding, the study hybrids (name → (base key,
    fitted hybrid)) and their test results (PMF first)."""

    pmf: object
    pmf_seconds: float
    contents: dict
    hybrids: dict
    results: ExperimentResult

    first = property(lambda self: next(iter(self.hybrids)))  #: the first study hybrid (its evaluation time is shown)


def reproduce_study(split, embeddings: Mapping, alpha: float, k: int) -> StudyRun:
    """PMF (the study's config) and ``PMF + <embedding> (α=alpha)`` for every embedding, base
    normalised over all items, fitted on ``split``'s training part and evaluated on test."""
    from ...models import create
    from ...models.content import Content
    from ...models.hybrid import Hybrid

    train = split.without_test()
    t0 = time.perf_counter()
    pmf = create("pmf").fit(train)
    pmf_seconds = time.perf_counter() - t0
    contents = {label: Content(embeddings=e).fit(train) for label, e in embeddings.items()}
    hybrids = {f"PMF + {label} (α={alpha:g})": ("PMF", Hybrid(base_model=pmf, content_model=contents[label],
                                                               alpha=alpha, base_norm="all").fit(train))
               for label in embeddings}
    results = Experiment(split, {"PMF": pmf, **{name: m for name, (_, m) in hybrids.items()}}, k, fit=False).run()
    return StudyRun(pmf, pmf_seconds, contents, hybrids, results)


def result_row(method: str, res=None, published=(None, None), note: str = "") -> dict:
    """A row of the results table: P/R/NDCG/MAP of ``res`` (None: not run), the study's published
    P@k and R@k, and a note."""
    m = res.metrics if res is not None else {}
    return {"method": method, **{x: (None if m.get(x) is None else float(m[x])) for x in METRICS},
            "study_published_p": published[0], "study_published_r": published[1], "note": note}


def study_table(study: StudyRun, embeddings: Mapping, alpha: float, published: Mapping,
                not_run: str) -> tuple[list[dict], dict]:
    """The study's five rows (rows not re-run: the published numbers only) and the ``+overview``
    row: ``(rows, {method: EvalResult})`` for the rows measured here."""
    res = study.results
    rows = [result_row("PMF (cornac, study config)", res["PMF"], published["PMF"], "row 1, reproduced")]
    measured = {rows[0]["method"]: res["PMF"]}
    for i, key in enumerate(["MiniLM base", "MiniLM fine-tuned", "Qwen3-Emb-4B base", "Qwen3-Emb-4B fine-tuned"], 2):
        name = f"PMF + {key} (α={alpha:g})"
        if name not in res:
            rows.append(result_row(name, None, published[key], f"row {i}: {not_run}"))
            continue
        note = f"row {i}, re-run here"
        if "fine-tuned" in key:
            info = embeddings[key].info
            note += f" ({info['n_pairs']} train pairs, {info['finetune']['epochs']:g} epochs)"
        rows.append(result_row(name, res[name], published[key], note))
        measured[name] = res[name]
    if "MiniLM base, +overview" in embeddings:
        name = f"PMF + MiniLM base, +overview (α={alpha:g})"
        rows.append(result_row(name, res[name], note="study text + TMDB overview"))
        measured[name] = res[name]
    return rows, measured


# --- §4 stronger bases, tuned blends -------------------------------------------------------------
@dataclass
class Bases:
    """The CF bases: each grid's :class:`Choice` on validation (``ease``, ``ease_r``, ``itemknn``,
    ``als``), the fitted models by row label and their test results."""

    choices: dict
    models: dict
    results: ExperimentResult

    ease_label = property(lambda self: list(self.models)[2])  #: the row label of EASE
    easer_label = property(lambda self: list(self.models)[4])  #: the row label of EASE-r

    def chosen(self) -> dict:
        return {name: c.best for name, c in self.choices.items()}

    def validation_rows(self) -> dict:
        return {name: c.rows for name, c in self.choices.items()}

    def configs(self) -> dict:  # for config.json
        return {label: m.config_dict() for label, m in self.models.items()}


def tune_bases(split, k: int, ease_lambdas, ease_r_lambdas, ease_r_powers, itemknn_grid: Mapping,
               als_grid: Mapping) -> Bases:
    """MostPop, ItemKNN, EASE, ALS and EASE-r: each grid chosen on validation by NDCG@k
    (:func:`grid_search`), refitted on the training part and evaluated on test."""
    from ...models import create

    choices: dict[str, Choice] = {
        "ease": grid_search("ease", split, {"lambda_": ease_lambdas}, k=k),
        "ease_r": grid_search("ease_r", split, {"lambda_": ease_r_lambdas, "power": ease_r_powers}, k=k),
        "itemknn": grid_search("itemknn", split, {key: list(v) for key, v in itemknn_grid.items()}, k=k),
        "als": grid_search("als", split, {key: list(v) for key, v in als_grid.items()}, k=k),
    }
    knn, ease, als, easer = (choices[n].best for n in ("itemknn", "ease", "als", "ease_r"))
    models = {
        "MostPop": create("mostpop"),
        f"ItemKNN ({knn['n_neighbors']} neighbours, shrinkage {knn['shrinkage']:g})": create("itemknn", **knn),
        f"EASE (λ={ease['lambda_']:g})": create("ease", **ease),
        f"ALS (implicit; {als['factors']} factors, reg. {als['regularization']:g}, α {als['alpha']:g})":
            create("als", **als),
        f"EASE-r (λ={easer['lambda_']:g}, p={easer['power']:g})": create("ease_r", **easer),
    }
    return Bases(choices, models, Experiment(split, models, k).run())


@dataclass
class Blends:
    """The hybrids beyond the study: ``tuned`` (base key → :class:`TunedBlend`), the fine-tuned
    one (``ft``, or None), the learned blend, every hybrid as name → (base key, fitted model), their
    test results, the row label of each base key and the content embedding blended."""

    tuned: dict
    ft: TunedBlend | None
    learned: LearnedBlend
    hybrids: dict
    results: ExperimentResult
    base_labels: dict
    content_label: str

    def alpha_rows(self) -> list[dict]:
        """Every validation row of every tuned blend, with its base."""
        return [{"base": b, **r} for b, t in self.tuned.items() for r in t.choice.rows]

    def chosen(self) -> dict:
        return {b: {"alpha": t.choice.alpha, "base_norm": t.choice.base_norm} for b, t in self.tuned.items()}


def tune_hybrids(split, val, study: StudyRun, bases: Bases, embeddings: Mapping, alphas, k: int,
                 shortlist: int) -> Blends:
    """PMF, EASE and EASE-r each blended with the base MiniLM content (α and the base
    normalisation chosen on ``val``, :func:`tune_blend`); the fine-tuned MiniLM on EASE-r with the
    choice made for the base MiniLM (its pairs saw the validation part); a learned blend of
    EASE-r, content and PMF fitted on ``val``'s shortlist. All evaluated once on test."""
    from ...models import create
    from ...models.content import Content
    from ...models.hybrid import ScoreMatrix

    n = split.n_users
    val_train = val.without_test()
    ease, easer = bases.chosen()["ease"], bases.chosen()["ease_r"]
    val_models = {"PMF": create("pmf").fit(val_train), "EASE": create("ease", **ease).fit(val_train),
                  "EASE-r": create("ease_r", **easer).fit(val_train)}
    test_models = {"PMF": study.pmf, "EASE": bases.models[bases.ease_label], "EASE-r": bases.models[bases.easer_label]}
    base_labels = {"PMF": "PMF", "EASE": bases.ease_label, "EASE-r": bases.easer_label}
    content_label = "MiniLM base" if "MiniLM base" in embeddings else next(iter(embeddings))
    content = study.contents[content_label]
    val_content = full_scores(Content(embeddings=embeddings[content_label]).fit(val_train), n)
    test_content = full_scores(content, n)
    val_scores = {b: full_scores(m, n) for b, m in val_models.items()}
    test_scores = {b: full_scores(m, n) for b, m in test_models.items()}

    hybrids, tuned = {}, {}
    for b in val_models:
        tuned[b] = tune_blend(split, val, (val_scores[b], test_scores[b]), (val_content, test_content), alphas, k=k,
                              name=lambda c, b=b: f"{base_labels[b]} + {content_label} (α={c.alpha:g}, "
                                                  f"{c.base_norm}, tuned)", determinism=content.determinism)
        hybrids[tuned[b].label] = (b, tuned[b].model)
    ft_label, ft = next((lab for lab in embeddings if lab.endswith("fine-tuned")), None), None
    if ft_label is not None:  # its pairs saw the validation part: the base MiniLM's choice, nothing tuned
        ft_content = study.contents[ft_label]
        ft = tune_blend(split, val, (None, test_scores["EASE-r"]), (None, full_scores(ft_content, n)),
                        name=lambda c: f"{bases.easer_label} + {ft_label} (α={c.alpha:g}, {c.base_norm}, "
                                       "α from base MiniLM)", determinism=ft_content.determinism,
                        choice=tuned["EASE-r"].choice)
        hybrids[ft.label] = ("EASE-r", ft.model)
    lb = fit_learned_blend(val, {"EASE-r": val_scores["EASE-r"], "content": val_content, "PMF": val_scores["PMF"]},
                           shortlist=shortlist)
    S = apply_learned_blend(lb, split, {"EASE-r": test_scores["EASE-r"], "content": test_content,
                                        "PMF": test_scores["PMF"]})
    lb_label = f"Learned blend (EASE-r, {content_label}, PMF)"
    hybrids[lb_label] = ("EASE-r", ScoreMatrix(S, lb_label, content.determinism).fit(split.without_test()))
    results = Experiment(split, {name: m for name, (_, m) in hybrids.items()}, k, fit=False).run()
    return Blends(tuned, ft, lb, hybrids, results, base_labels, content_label)


def beyond_rows(bases: Bases, blends: Blends) -> list[dict]:
    """The table rows beyond the study: each CF base, then each hybrid built on one."""
    rows = [result_row(label, bases.results[label], note="CF baseline") for label in bases.results]
    for name, (b, _) in blends.hybrids.items():
        rows.append(result_row(name, blends.results[name],
                               note=f"hybrid on {blends.base_labels[b]}; weights from validation"))
    return rows


def item_vectors(emb, items) -> np.ndarray:
    """``emb``'s vectors aligned with ``items`` (zero rows for items it has no vector for)."""
    import pandas as pd

    pos = pd.Series(np.arange(len(emb.movie_ids)), index=emb.movie_ids).reindex(items)
    vecs = np.zeros((len(items), emb.matrix.shape[1]))
    vecs[pos.notna().to_numpy()] = emb.matrix[pos.dropna().astype(int).to_numpy()]
    return vecs


def beyond_table(results: ExperimentResult, movies, embeddings: Mapping) -> list[dict]:
    """MRR@k and the beyond-accuracy columns of every row (:meth:`ExperimentResult.beyond`):
    genre diversity from ``movies``, embedding diversity in the base MiniLM's space (else the
    first embeddings')."""
    from ...evaluation.beyond import genre_matrix

    split = results.split
    ild = embeddings.get("MiniLM base", next(iter(embeddings.values())))
    return results.beyond(genres=genre_matrix(movies, split.items), embeddings=item_vectors(ild, split.items),
                          label="method")


# --- §5 each hybrid against its base ---------------------------------------------------------------
def paired_vs_base(results: ExperimentResult, hybrids: Mapping, base_labels: Mapping, n_boot: int, rng,
                   metrics: Sequence[str] = ("precision", "recall", "ndcg")) -> list[dict]:
    """Per hybrid and metric: the paired bootstrap of hybrid − its own base (a fresh ``rng`` each time)."""
    rows = []
    for name, (b, _) in hybrids.items():
        for metric in metrics:
            ci = results.paired(base_labels[b], metric, n_boot=n_boot, rng=rng, labels=[name])[name]
            rows.append({"hybrid": name, "base": base_labels[b], "metric": f"{metric}@{results.k}",
                         "mean_diff": float(ci.mean_diff), "low": float(ci.low), "high": float(ci.high),
                         "significant": bool(ci.significant)})
    return rows


# --- §6 other splits -----------------------------------------------------------------------------
def seed_models(embeddings: Mapping, alpha_study: float, alphas, ease_r_lambdas, ease_r_powers) -> tuple[dict, dict]:
    """The repeated-split comparison's candidates (MostPop, PMF, EASE-r on its grid) and blends:
    the study's PMF hybrid (α fixed) and EASE-r + content (α tuned) for the base MiniLM (and its
    ``+overview`` text); another encoder list: its first base embeddings."""
    from ...models.content import Content

    content = {lab: e for lab, e in embeddings.items() if lab in ("MiniLM base", "MiniLM base, +overview")}
    if not content:
        content = dict([(lab, e) for lab, e in embeddings.items() if lab.endswith("base")][:1])
    candidates = {"MostPop": Candidate("mostpop"), "PMF": Candidate("pmf"),
                  "EASE-r": Candidate("ease_r", {"lambda_": ease_r_lambdas, "power": ease_r_powers})}
    blends = {}
    for lab, e in content.items():
        if lab == "MiniLM base":
            blends[f"PMF + {lab} (α={alpha_study:g}, the study's)"] = BlendCandidate(
                "PMF", functools.partial(Content, embeddings=e), alphas=[alpha_study], base_norms=["all"])
        blends[f"EASE-r + {lab} (α tuned)"] = BlendCandidate("EASE-r", functools.partial(Content, embeddings=e),
                                                             alphas=alphas)
    return candidates, blends


def claims_across_seeds(ms: MultiSeedResult, blends: Mapping, best: str, n_boot: int, rng) -> dict:
    """``{claim: PooledComparison}``: each blend against its base on precision and NDCG, and the
    model best on validation against EASE-r on precision (when it is a blend on another base)."""
    k = ms.k
    claims = {}
    for lab, bc in blends.items():
        for m in ("precision", "ndcg"):
            claims[f"{lab} vs {bc.base} ({m}@{k})"] = ms.compare(lab, bc.base, m, n_boot=n_boot, rng=rng)
    if best in blends and blends[best].base != "EASE-r":
        claims[f"{best} vs EASE-r (precision@{k})"] = ms.compare(best, "EASE-r", "precision", n_boot=n_boot, rng=rng)
    return claims


def seed_rows(ms: MultiSeedResult, metrics: Sequence[str] = METRICS) -> list[dict]:
    """:meth:`MultiSeedResult.table` without the per-seed lists (:func:`seed_summary` has them)."""
    return [{key: v for key, v in row.items() if not key.endswith("_per_seed")} for row in ms.table(metrics)]


def seed_summary(ms: MultiSeedResult, best: str, claims: Mapping[str, PooledComparison],
                 metrics: Sequence[str] = METRICS) -> dict:
    """The seeds, the model best on validation, per model its test metrics, validation score and
    chosen parameters on each seed, and the claims."""
    return {
        "seeds": ms.seeds,
        "best_on_validation": best,
        "per_seed": {lab: {m: [float(r.results[lab].metrics[m]) for r in ms.runs] for m in metrics}
                     for lab in ms.labels},
        "validation_ndcg": {lab: [float(r.validation[lab]) for r in ms.runs] for lab in ms.labels},
        "chosen": {lab: [r.chosen[lab] for r in ms.runs] for lab in ms.labels},
        "claims": {name: {"mean_diff": c.mean_diff, "low": c.low, "high": c.high, "per_seed": list(c.per_seed),
                          "holds": c.holds} for name, c in claims.items()},
    }


# --- §8 the demo user ------------------------------------------------------------------------------
def demo_user_id(split, demo_user: int = 0) -> int:
    """``demo_user``, or (0) the user with the most training ratings (the study's demo choice)."""
    return demo_user if demo_user else int(split.train["userId"].value_counts().index[0])


def demo_tops(split, user: int, study: StudyRun, bases: Bases, blends: Blends, alpha_study: float, titles,
              n: int = 5) -> dict:
    """``{method: top-n titles}`` for ``user``: PMF, its study hybrid, EASE-r and every hybrid on it."""
    study_content = f"PMF + {blends.content_label} (α={alpha_study:g})"
    methods = {"PMF": study.pmf}
    if study_content in study.hybrids:
        methods[study_content] = study.hybrids[study_content][1]
    methods[bases.easer_label] = bases.models[bases.easer_label]
    methods.update({name: m for name, (b, m) in blends.hybrids.items() if b == "EASE-r"})
    u = split.uidx(user)[0]
    return {name: [str(titles.get(mid, mid)) for mid in split.items[m.rank([u], n)[0]]] for name, m in methods.items()}
