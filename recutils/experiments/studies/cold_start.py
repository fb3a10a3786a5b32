"""The study of notebook 06 (``06_cold_start``): what text embeddings add for movies with no
ratings yet, measured against metadata on the cold-item protocol.

- :func:`embed_texts`: the text embeddings compared (base encoders, the study-pair fine-tune and
  the CF-pair fine-tune, both trained on the cold split's training part only) and
  :func:`ablation_text_sources`: section 8's texts — in :mod:`.cold_start_texts`;
- :func:`choose_family` / :func:`choose_cold_settings`: every choice (ridge λ, text weight, text
  source, MLP size and epochs, torch_cf's text projection) on the warm-item validation carve-out,
  through :func:`~recutils.experiments.choose.choose_on_validation` (first best wins ties);
- :func:`cold_test_models` / :func:`cold_test_table`: the scorers refitted with their chosen
  settings and compared on the cold test movies (:func:`~recutils.experiments.coldstart.cold_table`);
- :func:`text_source_table` / :func:`text_comparisons`: which text, which encoder, which fine-tune;
- :func:`warm_ablation`: torch_cf with and without text on the warm study split;
- :func:`seed_candidates` / :func:`seed_table` / :func:`compare_pairs`: the headline comparisons
  repeated on other cold splits (:func:`~recutils.experiments.coldstart.cold_multi_seed`);
- :func:`ablation_verdict` / :func:`ablations_entry` / :func:`record_ablations`: section 8
  (:func:`~recutils.experiments.coldstart_ablations.run_ablations`) summed up and recorded;
- :func:`cold_verdict`: one validation-chosen row per family against metadata-only torch_cf.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from ...constants import K
from ..choose import Choice, choose_on_validation, expand_grid
from ..coldstart import ColdCandidate, cold_table
from .cold_start_texts import TextEmbeddings, ablation_text_sources, embed_texts, finetune_config, text_embedding

__all__ = ["TC_META", "SEED_PAIRS", "ColdChoices", "TextEmbeddings", "ablation_text_sources", "ablation_verdict",
           "ablations_entry", "text_embedding",
           "choose_cold_settings", "choose_family", "cold_test_models", "cold_test_table", "cold_verdict",
           "compare_pairs", "comparison_rows", "embed_texts", "finetune_config", "own_references", "record_ablations",
           "seed_candidates", "seed_table", "text_comparisons", "text_source_table", "text_verdict", "warm_ablation"]

#: the issue's reference: torch_cf with genres and TMDB numbers, no text
TC_META = "torch_cf · metadata"
#: the pooled comparisons across cold splits (section 7): (a, b) for a − b
SEED_PAIRS = (("MLP → ALS · metadata + text", TC_META), ("MLP → ALS · metadata + text", "MLP → ALS · metadata"),
              ("ridge · metadata + text", "ridge · metadata"), ("MLP → ALS · metadata", TC_META),
              ("ridge · metadata", TC_META))


# --- 3. choices on the validation carve-out ------------------------------------------------------
def choose_family(family: str, make: Callable[..., object], options: Sequence[Mapping], val, k: int = K,
                  prov=None) -> tuple[Choice, list[dict]]:
    """Fit ``make(**params)`` for every option on ``val``'s training part and score NDCG@k over its
    cold (pseudo-cold) items; the first best option (:func:`choose_on_validation`) and one row per
    option (``family``, ``params``, ``val_ndcg``, ``seconds``). ``prov``: a
    :class:`~recutils.experiments.Provenance` each validation result is added to under ``family``."""
    from ...evaluation import evaluate_ranking

    train = val.without_test()

    def score(params: dict) -> dict:
        t0 = time.perf_counter()
        r = evaluate_ranking(make(**params).fit(train), val, k, candidates=val.cold_items)
        if prov is not None:
            prov.add_result(family, r)
        return {"val_ndcg": float(r.metrics["ndcg"]), "seconds": round(time.perf_counter() - t0, 2)}

    options = [dict(o) for o in options]
    choice = choose_on_validation(options, score, "val_ndcg")
    rows = [{"family": family, "params": opt, "val_ndcg": row["val_ndcg"], "seconds": row["seconds"]}
            for opt, row in zip(options, choice.rows)]
    return choice, rows


@dataclass
class ColdChoices:
    """What validation chose, and the settings every scorer of the study shares."""

    best_text: str  #: the text source (best validation score of the ridge map among the base encoders)
    text_dim: int  #: torch_cf's text projection size
    chosen: dict  #: name → :class:`Choice` (``None``: nothing to choose)
    rows: list  #: every validation row, in the order tried
    movies: object
    text: object  #: the embeddings of ``best_text``
    map_base: dict  #: the ridge map onto EASE columns
    als_base: dict  #: the maps onto ALS factors (with the chosen text)
    tc_base: dict  #: torch_cf

    def params(self, name: str) -> dict:
        c = self.chosen[name]
        return {} if c is None else dict(c.best)

    @property
    def tc_text(self) -> str:
        return f"torch_cf · metadata + text ({self.best_text}, {self.text_dim}-d)"

    @property
    def tc_only(self) -> str:
        return f"torch_cf · text only ({self.best_text}, {self.text_dim}-d)"

    def as_dict(self) -> dict:
        """``metrics["chosen"]``: the text source, the projection size and each family's parameters."""
        return {"text_source": self.best_text, "text_dim": int(self.text_dim), **{n: self.params(n) for n in self.chosen}}


def choose_cold_settings(val, embeddings: Mapping, base_labels: Sequence[str], movies, *, k: int, seed: int,
                         ease_lambda: float, ridge_lambdas, text_weights, als_factors: int, mlp_grid: Mapping,
                         torch_params: Mapping, text_dims, prov=None) -> ColdChoices:
    """Section 3: the ridge map onto EASE per text embedding (λ, text weight); the text source among
    ``base_labels`` by that map's validation score; with it the text-only, genres-only and
    genres + text maps, the ridge and MLP maps onto ALS factors and torch_cf's projection size."""
    from ...models.coldstart import ContentToCF
    from ...models.torch_cf import TorchCF

    rows, chosen = [], {}

    def pick(name: str, family: str, make, options) -> Choice:
        chosen[name], family_rows = choose_family(family, make, options, val, k, prov)
        rows.extend(family_rows)
        return chosen[name]

    lambdas = expand_grid({"ridge_lambda": list(ridge_lambdas)})
    ridge_grid = expand_grid({"ridge_lambda": list(ridge_lambdas), "text_weight": list(text_weights)})
    map_base = dict(target="ease", ease_lambda=ease_lambda, item_table=movies)
    pick("ridge · metadata", "ridge · metadata", lambda **p: ContentToCF(text=False, **map_base, **p), lambdas)
    for label, e in embeddings.items():
        pick(f"ridge · metadata + {label}", f"ridge · metadata + {label}",
             lambda e=e, **p: ContentToCF(embeddings=e, **map_base, **p), ridge_grid)
    best_text = choose_on_validation([{"text": lb} for lb in base_labels],
                                     lambda o: {"val_ndcg": chosen[f"ridge · metadata + {o['text']}"].score},
                                     "val_ndcg").best["text"]
    E = embeddings[best_text]
    pick("ridge · text only", f"ridge · text only ({best_text})",
         lambda **p: ContentToCF(embeddings=E, metadata=False, **map_base, **p), lambdas)
    pick("ridge · genres only", "ridge · genres only (no TMDB numbers)",
         lambda **p: ContentToCF(text=False, tmdb_numbers=False, **map_base, **p), lambdas)
    pick("ridge · genres + text", f"ridge · genres + text (no TMDB numbers; {best_text})",
         lambda **p: ContentToCF(embeddings=E, tmdb_numbers=False, **map_base, **p), ridge_grid)
    als_base = dict(target="als", als_factors=als_factors, seed=seed, item_table=movies, embeddings=E)
    pick("ridge → ALS · metadata", "ridge → ALS · metadata", lambda **p: ContentToCF(text=False, **als_base, **p), lambdas)
    pick("ridge → ALS", "ridge → ALS · metadata + text", lambda **p: ContentToCF(**als_base, **p), ridge_grid)
    mlp = expand_grid({"mlp_hidden": list(mlp_grid["mlp_hidden"]), "mlp_epochs": list(mlp_grid["mlp_epochs"])})
    pick("MLP → ALS · metadata", "MLP → ALS · metadata",
         lambda **p: ContentToCF(mapper="mlp", text=False, **als_base, **p), mlp)
    pick("MLP → ALS", "MLP → ALS · metadata + text", lambda **p: ContentToCF(mapper="mlp", **als_base, **p), mlp)
    tc_base = {**torch_params, "seed": seed, "progress": False}
    chosen[TC_META] = None  # nothing to choose: notebook 04's settings
    dim = pick("torch_cf · metadata + text", "torch_cf · metadata + text",
               lambda **p: TorchCF(item_table=movies, item_text=E, **tc_base, **p),
               expand_grid({"text_dim": list(text_dims)})).best["text_dim"]
    return ColdChoices(best_text, dim, chosen, rows, movies, E, map_base, als_base, tc_base)


# --- 4. the cold test movies ---------------------------------------------------------------------
def cold_test_models(ch: ColdChoices, embeddings: Mapping, base_label: str, ft_label: str, seed: int) -> dict:
    """Every scorer of the cold test table, unfitted, with the settings ``ch`` chose: baselines,
    content profiles, torch_cf (metadata / text only / both), the ridge maps onto EASE (one per text
    embedding), the ridge and MLP maps onto ALS factors."""
    from ...models.coldstart import ContentToCF, GenrePopularity
    from ...models.content import Content
    from ...models.feature_baselines import MetadataPopularity, RandomScores
    from ...models.torch_cf import TorchCF

    movies, best, E, tc = ch.movies, ch.best_text, ch.text, ch.tc_base

    def ridge(name: str, e=None, **extra):
        return ContentToCF(embeddings=e, **ch.map_base, **ch.params(name), **extra)

    models = {
        "random": RandomScores(seed=seed),
        "TMDB vote_count": MetadataPopularity(column="vote_count", item_table=movies),
        "TMDB popularity": MetadataPopularity(column="popularity", item_table=movies),
        "genre popularity": GenrePopularity(item_table=movies),
        "genre popularity (personal)": GenrePopularity(personal=True, item_table=movies),
        "content profile · MiniLM base (study)": Content(embeddings=embeddings[base_label]),
        f"content profile · {ft_label}": Content(embeddings=embeddings[ft_label]),
        TC_META: TorchCF(item_table=movies, **tc),
        ch.tc_only: TorchCF(item_table=movies, item_text=E, metadata=False, text_dim=ch.text_dim, **tc),
        ch.tc_text: TorchCF(item_table=movies, item_text=E, text_dim=ch.text_dim, **tc),
        "ridge · metadata": ridge("ridge · metadata", text=False),
        f"ridge · text only ({best})": ridge("ridge · text only", E, metadata=False),
    }
    models["ridge · genres only (no TMDB numbers)"] = ridge("ridge · genres only", text=False, tmdb_numbers=False)
    models[f"ridge · genres + {best} (no TMDB numbers)"] = ridge("ridge · genres + text", E, tmdb_numbers=False)
    for label in embeddings:
        models[f"ridge · metadata + {label}"] = ridge(f"ridge · metadata + {label}", embeddings[label])
    als = ch.als_base
    models["ridge → ALS · metadata"] = ContentToCF(text=False, **als, **ch.params("ridge → ALS · metadata"))
    models[f"ridge → ALS · metadata + {best}"] = ContentToCF(**als, **ch.params("ridge → ALS"))
    models["MLP → ALS · metadata"] = ContentToCF(mapper="mlp", text=False, **als, **ch.params("MLP → ALS · metadata"))
    models[f"MLP → ALS · metadata + {best}"] = ContentToCF(mapper="mlp", **als, **ch.params("MLP → ALS"))
    return models


def own_references(labels) -> dict:
    """Each mapping / torch_cf row's own metadata-only variant (the ``own_*`` columns)."""
    return {label: ("MLP → ALS · metadata" if label.startswith("MLP → ALS · metadata + ") else
                    "ridge → ALS · metadata" if label.startswith(("ridge → ALS", "MLP")) else
                    "ridge · genres only (no TMDB numbers)" if label.endswith("(no TMDB numbers)") else
                    "ridge · metadata" if label.startswith("ridge") else TC_META)
            for label in labels if label.startswith(("ridge", "MLP", "torch_cf"))}


def cold_test_table(models: Mapping, cold, k: int = K, n_boot: int = 2000, seed: int = 0) -> tuple[list[dict], dict]:
    """Every model fitted on ``cold``'s training part (in order, timed: ``fit_seconds``), then
    :func:`cold_table` against :data:`TC_META` with :func:`own_references`."""
    train = cold.without_test()
    fit_seconds = {}
    for label, m in models.items():
        t0 = time.perf_counter()
        m.fit(train)
        fit_seconds[label] = round(time.perf_counter() - t0, 2)
    rows, results = cold_table(dict(models), cold, TC_META, k, n_boot=n_boot, seed=seed, own_reference=own_references(models))
    for r in rows:
        r["fit_seconds"] = fit_seconds[r["model"]]
    return rows, results


# --- 5. which text, which encoder ----------------------------------------------------------------
def text_source_table(models: Mapping, results: Mapping, labels, cold, k: int = K, n_boot: int = 2000,
                      seed: int = 0) -> list[dict]:
    """The ridge map of metadata + each text embedding (``labels``; results reused) against the first."""
    names = [f"ridge · metadata + {lb}" for lb in labels]
    rows, _ = cold_table({n: models[n] for n in names}, cold, names[0], k, n_boot=n_boot, seed=seed,
                         results={n: results[n] for n in names})
    return rows


def text_comparisons(results: Mapping, pairs, n_boot: int = 2000, seed: int = 0, prov=None) -> list[tuple[dict, object]]:
    """For each ``(a, b)`` of text labels whose ridge maps were both evaluated: the paired bootstrap
    CI of NDCG ``a − b`` as ``(row, PairedCI)``; ``prov`` names the rows a and b."""
    from ...evaluation import paired_bootstrap_ci

    out = []
    for a, b in pairs:
        la, lb = f"ridge · metadata + {a}", f"ridge · metadata + {b}"
        if la in results and lb in results:
            ci = paired_bootstrap_ci(results[la].per_user["ndcg"], results[lb].per_user["ndcg"], n_boot=n_boot, rng=seed)
            out.append(({"a": a, "b": b, "ndcg_diff": ci.mean_diff, "ci_low": ci.low, "ci_high": ci.high}, ci))
            if prov is not None:
                prov.add_result(a, results[la]).add_result(b, results[lb])
    return out


# --- 6. warm items -------------------------------------------------------------------------------
def warm_ablation(warm, ch: ColdChoices, k: int = K, n_boot: int = 2000, seed: int = 0) -> tuple[list[dict], dict]:
    """torch_cf with and without text, and the mapping's warm scores (EASE), on the warm split."""
    from ...models.baselines import EASE
    from ...models.torch_cf import TorchCF

    movies, E, tc = ch.movies, ch.text, ch.tc_base
    models = {
        "EASE (the mapping's warm scores)": EASE(lambda_=ch.map_base["ease_lambda"]),
        TC_META: TorchCF(item_table=movies, **tc),
        ch.tc_only: TorchCF(item_table=movies, item_text=E, metadata=False, text_dim=ch.text_dim, **tc),
        ch.tc_text: TorchCF(item_table=movies, item_text=E, text_dim=ch.text_dim, **tc),
    }
    train = warm.without_test()
    for m in models.values():
        m.fit(train)
    return cold_table(models, warm, TC_META, k, n_boot=n_boot, seed=seed, candidates=np.ones(warm.n_items, bool))


# --- 7. across cold splits -----------------------------------------------------------------------
def seed_candidates(ch: ColdChoices, ridge_lambdas, text_weights, seed_mlp_grid: Mapping) -> dict:
    """The headline scorers for :func:`cold_multi_seed`; grids re-chosen on every seed's carve-out."""
    from ...models.coldstart import ContentToCF
    from ...models.torch_cf import TorchCF

    movies, E, mb, als, tc = ch.movies, ch.text, ch.map_base, ch.als_base, ch.tc_base
    lambdas = tuple(expand_grid({"ridge_lambda": list(ridge_lambdas)}))
    ridge_grid = tuple(expand_grid({"ridge_lambda": list(ridge_lambdas), "text_weight": list(text_weights)}))
    mlp = tuple(expand_grid({"mlp_hidden": list(seed_mlp_grid["mlp_hidden"]),
                             "mlp_epochs": list(seed_mlp_grid["mlp_epochs"])}))
    return {
        TC_META: ColdCandidate(lambda: TorchCF(item_table=movies, **tc)),
        "ridge · metadata": ColdCandidate(lambda **p: ContentToCF(text=False, **mb, **p), lambdas),
        "ridge · metadata + text": ColdCandidate(lambda **p: ContentToCF(embeddings=E, **mb, **p), ridge_grid),
        "MLP → ALS · metadata": ColdCandidate(lambda **p: ContentToCF(mapper="mlp", text=False, **als, **p), mlp),
        "MLP → ALS · metadata + text": ColdCandidate(lambda **p: ContentToCF(mapper="mlp", **als, **p), mlp),
    }


def seed_table(multi, metrics=("precision", "recall", "ndcg")) -> list[dict]:
    """``multi.table``; a scorer with nothing to choose has no validation score: None, not NaN."""
    return [{kk: None if isinstance(v, float) and np.isnan(v) else v for kk, v in r.items()} for r in multi.table(metrics)]


def compare_pairs(multi, pairs=SEED_PAIRS, metric: str = "ndcg", n_boot: int = 2000, seed: int = 0) -> list:
    """The pooled paired bootstrap of each ``(a, b)`` (:meth:`MultiSeedResult.compare`)."""
    return [multi.compare(a, b, metric, n_boot=n_boot, rng=seed) for a, b in pairs]


def comparison_rows(comparisons) -> list[dict]:
    """``metrics.json`` rows of pooled comparisons (``a``, ``b``, the difference, its CI, per seed, holds)."""
    return [{"a": c.a, "b": c.b, f"{c.metric}_diff": c.mean_diff, "ci_low": c.low, "ci_high": c.high,
             "per_seed": list(c.per_seed), "holds": c.holds} for c in comparisons]


# --- 8. the ablations (issue 24) -----------------------------------------------------------------
_VERDICT_FIELDS = ("model", "ndcg_diff", "ci_low", "ci_high", "per_seed_diff", "holds", "vs_wider_diff", "vs_wider_low",
                   "vs_wider_high", "vs_wider_per_seed", "vs_wider_holds")


def text_verdict(multi, rows: list[dict], k: int = K) -> dict:
    """Among the text rows of one protocol: the one with the best mean validation NDCG (rows
    without a validation score cannot be picked) and, as a scan, the one closest on test."""
    val = {r["model"]: r[f"validation_ndcg@{k}"] for r in multi.table(("ndcg",))}
    text_rows = [r for r in rows if "text" in r["model"]]  # the metadata-only rows are not candidates
    chosen = choose_on_validation([{"i": i} for i, r in enumerate(text_rows) if np.isfinite(val[r["model"]])],
                                  lambda o: {"val_ndcg": val[text_rows[o["i"]]["model"]]}, "val_ndcg")
    chosen_row = text_rows[chosen.best["i"]]
    closest = max(text_rows, key=lambda r: r["ndcg_diff"])
    return {"chosen_on_validation": {kk: chosen_row[kk] for kk in _VERDICT_FIELDS if kk in chosen_row},
            "closest_on_test": {kk: closest[kk] for kk in _VERDICT_FIELDS if kk in closest}}


def ablation_verdict(abl: Mapping, k: int = K) -> dict:
    """:func:`text_verdict` of the standard and the release-day protocol of :func:`run_ablations`."""
    return {"standard": text_verdict(abl["multi"], abl["rows"], k),
            "release_day": text_verdict(abl["multi"], abl["release_rows"], k)}


def _per_seed(multi) -> dict:
    return {"chosen": {r.seed: r.chosen for r in multi.runs},
            "validation": {r.seed: {lb: rows for lb, rows in r.grids.items() if rows} for r in multi.runs}}


def seeds_entry(multi, rows: list[dict], comparisons: list[dict], seconds: float) -> dict:
    """``metrics["seeds"]``: the table, the pooled comparisons, every seed's choices and grids."""
    return {"seeds": multi.seeds, "table": rows, "comparisons": comparisons, **_per_seed(multi),
            "seconds": round(seconds, 1)}


def ablations_entry(abl: Mapping, verdict: Mapping, seconds: float) -> dict:
    """``metrics["ablations"]``: rows, release-day rows, text sources, curves, choices per seed, verdict."""
    return {"seeds": abl["multi"].seeds, "text_source": abl["text_source"],
            "release_text_source": abl["release_text_source"], "rows": abl["rows"], "release_rows": abl["release_rows"],
            "text_rows": abl["text_rows"], "cross_protocol": abl["cross_protocol"], "curves": abl["curves"],
            "verdict": dict(verdict), **_per_seed(abl["multi"]), "seconds": round(seconds, 1)}


def record_ablations(rec, abl: Mapping) -> None:
    """The provenance of section 8's rows in ``rec`` (a :class:`~recutils.experiments.Record`):
    both repeated-split runs, the learning curves (the MLP, with text where named) and the references."""
    from ..coldstart_ablations import REFERENCE, RELEASE_REFERENCE

    rec.multi_seed(abl["multi"]).multi_seed(abl["text_multi"])
    for lb in {r["model"] for r in abl["curves"]}:
        rec.produced_by(lb, "mlp", "als", *(["text"] if "text" in lb else []), n_users=min(r["n_users"] for r in abl["curves"]))
    rec.provenance.reference("ablations", REFERENCE, RELEASE_REFERENCE, "ridge → EASE · metadata")


# --- 9. the verdict ------------------------------------------------------------------------------
_METADATA_ONLY = ("ridge · metadata", "ridge → ALS · metadata", "MLP → ALS · metadata", "ridge · genres only (no TMDB numbers)")


def cold_verdict(cold_rows: list[dict], ch: ColdChoices, seed_comparisons: list[dict], k: int = K) -> dict:
    """One validation-chosen text row per family against metadata-only torch_cf (and its own
    metadata-only row); whether one beats it (CI above zero), whether any text row of the table does
    (a scan), and which comparisons across cold splits hold."""
    best = ch.best_text
    families = {"torch_cf · metadata + text": ch.tc_text, "ridge (EASE) · metadata + text": f"ridge · metadata + {best}",
                "ridge (EASE) · text only": f"ridge · text only ({best})",
                "ridge (EASE) · genres + text, no TMDB numbers": f"ridge · genres + {best} (no TMDB numbers)",
                "ridge (ALS) · metadata + text": f"ridge → ALS · metadata + {best}",
                "MLP (ALS) · metadata + text": f"MLP → ALS · metadata + {best}"}
    by_label = {r["model"]: r for r in cold_rows}
    verdict = {fam: {"model": lb, "ndcg": by_label[lb][f"ndcg@{k}"],
                     "vs_torch_cf_metadata": [by_label[lb]["ndcg_diff"], by_label[lb]["ci_low"], by_label[lb]["ci_high"]],
                     "vs_own_metadata": [by_label[lb].get("own_diff"), by_label[lb].get("own_low"), by_label[lb].get("own_high")],
                     "own_reference": by_label[lb].get("own_reference")}
               for fam, lb in families.items()}
    labels = list(by_label)
    text_labels = [ch.tc_only, ch.tc_text, *(lb for lb in labels if lb.startswith(("ridge", "MLP")) and lb not in _METADATA_ONLY),
                   *(lb for lb in labels if lb.startswith("content profile"))]
    any_text_beats = any(r["significant"] and r["ndcg_diff"] > 0 for r in cold_rows if r["model"] in text_labels)
    chosen_beats = any(v["vs_torch_cf_metadata"][1] > 0 for v in verdict.values())
    return {"chosen_text_beats_metadata_torch_cf": bool(chosen_beats),
            "any_text_row_beats_metadata_torch_cf": bool(any_text_beats), "families": verdict,
            "across_seeds": {f"{c['a']} vs {c['b']}": c["holds"] for c in seed_comparisons}}
