"""Issue 24: can text earn its place in the best cold-start scorer? The ablations of notebook 06.

The reference is the **metadata-only MLP onto ALS factors** (the best cold scorer of notebook 06).
Every scorer below is a :class:`~recutils.experiments.coldstart.ColdCandidate` for
:func:`~recutils.experiments.coldstart.cold_multi_seed`: its grid is chosen per seed on that
seed's warm-movie carve-out, never on the cold test movies.

- :func:`ablation_candidates` (standard protocol: genres + TMDB numbers): the MLP with the text
  concatenated, reduced by PCA (``text_dims``), down-weighted (``mlp_text_weights``), with
  DropoutNet-style input dropout (``input_dropouts``: ``[text p, metadata p]``), with early
  stopping on held-out warm items; the MLP onto EASE (rank-``ease_rank`` SVD of its scores) with
  and without text; the residual map (metadata MLP + a text ridge map of its residuals); the
  score-level blends of the metadata MLP with the ridge → EASE map of metadata + text and of
  text alone.
- :func:`release_candidates` (the release-day protocol): the same with only what a movie has
  before release — genres, year, runtime, text (no TMDB vote count, vote average, popularity).
- :func:`text_source_candidates`: the ridge → EASE map of metadata + each text embedding
  (which text, which encoder).
- :func:`learning_curves`: validation NDCG@k of the MLP against epochs and hidden size, with and
  without text (one training run per hidden size, several epoch counts).
- :func:`ablation_rows`: per scorer the mean NDCG@k and recall@k over seeds with t-intervals,
  coverage and average popularity (seed means), and the pooled paired bootstrap against a
  reference with the "holds" rule.
"""

from __future__ import annotations

import numpy as np

from ..constants import K
from ..errors import RecutilsError
from .coldstart import ColdCandidate

__all__ = ["DEFAULT_GRIDS", "REFERENCE", "RELEASE_REFERENCE", "ablation_candidates", "ablation_frame", "ablation_rows",
           "learning_curves", "plot_curves", "release_candidates", "run_ablations", "text_source_candidates"]

#: the grids searched on validation (notebook 06's ``ablation_grids`` overrides any of them)
DEFAULT_GRIDS = {
    "mlp_hidden": [128], "mlp_epochs": [50, 200], "variant_epochs": 200, "text_dims": [16, 64],
    "mlp_text_weights": [0.1, 0.3], "input_dropouts": [[0.5, 0.0], [0.3, 0.3]], "es_max_epochs": 400,
    "ease_rank": 64, "residual_lambdas": [300.0, 3000.0, 30000.0], "blend_weights": [0.1, 0.25, 0.5],
    "blend_ridge_lambdas": [300.0, 3000.0], "ridge_lambdas": [3.0, 30.0, 300.0, 3000.0], "text_weights": [0.3, 1.0],
    # {"mlp_hidden": [...], "mlp_epochs": [...]}: also the metadata-only MLP with this (wider) grid, and
    # every text row's pooled difference against it (vs_wider_*); None: not run
    "wider_reference": None,
}

REFERENCE = "MLP → ALS · metadata"
RELEASE_REFERENCE = "release · MLP → ALS · metadata"


def _grids(grids: dict | None) -> dict:
    g = {**DEFAULT_GRIDS, **(grids or {})}
    unknown = set(g) - set(DEFAULT_GRIDS)
    if unknown:
        raise RecutilsError(f"ablation grids: unknown key(s) {sorted(unknown)}; known: {sorted(DEFAULT_GRIDS)}")
    return g


def _make(cls, **fixed):
    return lambda **p: cls(**{**fixed, **p})


def _family(movies, E, base: dict, g: dict, release: bool) -> dict:
    """The MLP / residual / blend candidates of one protocol (``release``: release-day metadata)."""
    from ..models.coldstart import ColdBlend, ContentToCF

    rd = {"release_day": True} if release else {}
    pre = "release · " if release else ""
    als = dict(target="als", item_table=movies, embeddings=E, **base["als"], **rd)
    ease = dict(target="ease", item_table=movies, embeddings=E, ease_lambda=base["ease_lambda"], **rd)
    hidden, epochs, ve = g["mlp_hidden"], g["mlp_epochs"], g["variant_epochs"]
    mlp_grid = tuple({"mlp_hidden": h, "mlp_epochs": e} for h in hidden for e in epochs)
    h0 = hidden[0]
    c = {
        f"{pre}MLP → ALS · metadata": ColdCandidate(_make(ContentToCF, mapper="mlp", text=False, **als), mlp_grid),
    }
    if g["wider_reference"]:
        wide = g["wider_reference"]
        c[f"{pre}MLP → ALS · metadata (wider grid)"] = ColdCandidate(
            _make(ContentToCF, mapper="mlp", text=False, **als),
            tuple({"mlp_hidden": h, "mlp_epochs": e} for h in wide["mlp_hidden"] for e in wide["mlp_epochs"]))
    c |= {
        f"{pre}MLP → ALS · metadata + text": ColdCandidate(_make(ContentToCF, mapper="mlp", **als), mlp_grid),
        f"{pre}MLP → ALS · metadata + text (PCA)": ColdCandidate(
            _make(ContentToCF, mapper="mlp", mlp_hidden=h0, mlp_epochs=ve, **als), tuple({"text_dim": d} for d in g["text_dims"])),
        f"{pre}MLP → ALS · metadata + text (input dropout)": ColdCandidate(
            _make(ContentToCF, mapper="mlp", mlp_hidden=h0, mlp_epochs=ve, **als),
            tuple({"text_dropout": t, "metadata_dropout": m} for t, m in g["input_dropouts"])),
        f"{pre}residual · MLP(metadata) + ridge(text) → ALS": ColdCandidate(
            _make(ContentToCF, mapper="residual", mlp_hidden=h0, mlp_epochs=ve, **als),
            tuple({"ridge_lambda": lam} for lam in g["residual_lambdas"])),
    }
    meta = {"target": "als", "mapper": "mlp", "text": False, "mlp_hidden": h0, "mlp_epochs": ve, **base["als"], **rd}
    for name, text_side in (("metadata + text", {}), ("text only", {"metadata": False})):
        c[f"{pre}blend · MLP(metadata) + ridge → EASE({name})"] = ColdCandidate(
            lambda blend_weight, ridge_lambda, ts=text_side: ColdBlend(
                item_table=movies, embeddings=E, blend_weight=blend_weight, meta=meta,
                text_side={"target": "ease", "ease_lambda": base["ease_lambda"], "ridge_lambda": ridge_lambda, **ts,
                           **(rd if "metadata" not in ts else {})}),
            tuple({"blend_weight": w, "ridge_lambda": lam} for w in g["blend_weights"] for lam in g["blend_ridge_lambdas"]))
    if release:
        ridge_grid = tuple({"ridge_lambda": lam, "text_weight": w} for lam in g["ridge_lambdas"] for w in g["text_weights"])
        c[f"{pre}ridge → EASE · metadata"] = ColdCandidate(
            _make(ContentToCF, text=False, **ease), tuple({"ridge_lambda": lam} for lam in g["ridge_lambdas"]))
        c[f"{pre}ridge → EASE · metadata + text"] = ColdCandidate(_make(ContentToCF, **ease), ridge_grid)
        return c
    c["MLP → ALS · metadata + text (text_weight)"] = ColdCandidate(
        _make(ContentToCF, mapper="mlp", mlp_hidden=h0, mlp_epochs=ve, **als), tuple({"text_weight": w} for w in g["mlp_text_weights"]))
    c["MLP → ALS · metadata + text (early stopping)"] = ColdCandidate(
        _make(ContentToCF, mapper="mlp", early_stopping=True, mlp_epochs=g["es_max_epochs"], **als), tuple({"mlp_hidden": h} for h in hidden))
    for name, t in (("metadata", {"text": False}), ("metadata + text", {})):
        c[f"MLP → EASE · {name}"] = ColdCandidate(_make(ContentToCF, mapper="mlp", ease_rank=g["ease_rank"], **ease, **t), mlp_grid)
    return c


def ablation_candidates(movies, E, base: dict, grids: dict | None = None) -> dict:
    """The standard protocol's scorers (see module docstring); ``E``: the text embeddings;
    ``base``: ``{"als": {...ALS settings}, "ease_lambda": λ}``."""
    return _family(movies, E, base, _grids(grids), release=False)


def release_candidates(movies, E, base: dict, grids: dict | None = None) -> dict:
    """The release-day protocol's scorers: genres, year, runtime and text; no TMDB vote numbers."""
    return _family(movies, E, base, _grids(grids), release=True)


def text_source_candidates(movies, texts: dict, base: dict, grids: dict | None = None) -> dict:
    """``ridge → EASE · metadata`` and ``ridge → EASE · metadata + <label>`` per text embedding."""
    from ..models.coldstart import ContentToCF

    g = _grids(grids)
    ease = dict(target="ease", item_table=movies, ease_lambda=base["ease_lambda"])
    ridge_grid = tuple({"ridge_lambda": lam, "text_weight": w} for lam in g["ridge_lambdas"] for w in g["text_weights"])
    c = {"ridge → EASE · metadata": ColdCandidate(_make(ContentToCF, text=False, **ease),
                                                  tuple({"ridge_lambda": lam} for lam in g["ridge_lambdas"]))}
    for label, E in texts.items():
        c[f"ridge → EASE · metadata + {label}"] = ColdCandidate(_make(ContentToCF, embeddings=E, **ease), ridge_grid)
    return c


def learning_curves(val, movies, E, base: dict, hiddens, epochs, k: int = K, release: bool = False) -> list[dict]:
    """Validation NDCG@k (and recall@k) of the MLP onto ALS factors after each of ``epochs``, per
    hidden size, with and without the text block — on ``val`` (a warm-item carve-out) only."""
    from ..evaluation import evaluate_ranking
    from ..models.coldstart import ContentToCF
    from ..models.hybrid import ScoreMatrix

    train = val.without_test()
    rows = []
    for text in (False, True):
        for h in hiddens:
            m = ContentToCF(target="als", mapper="mlp", text=text, item_table=movies, embeddings=E,
                            mlp_hidden=int(h), release_day=release, **base["als"])
            for e, S in m.learning_curve(train, epochs).items():
                r = evaluate_ranking(ScoreMatrix(S, "mlp curve", "kernel").fit(train), val, k, candidates=val.cold_items)
                rows.append({"model": f"MLP → ALS learning curve · metadata{' + text' if text else ''}", "text": text,
                             "mlp_hidden": int(h), "mlp_epochs": int(e), "val_ndcg": float(r.metrics["ndcg"]),
                             "val_recall": float(r.metrics["recall"]), "n_users": int(r.metrics["n_users"])})
    return rows


def ablation_rows(multi, ratings, reference: str, cold_share: float = 0.1, n_boot: int = 2000, seed: int = 0,
                  references: dict | None = None, wider: dict | None = None) -> list[dict]:
    """One row per scorer of ``multi`` (a :class:`~recutils.experiments.seeds.MultiSeedResult`
    from :func:`cold_multi_seed` on ``ratings``): NDCG@k and recall@k means with t-intervals and
    per-seed values, coverage and average popularity (means over seeds), and the pooled paired
    bootstrap of NDCG@k against ``reference`` (``references``: label → another reference; ``wider``:
    label → a second reference, ``vs_wider_*`` fields)."""
    from ..evaluation.beyond import average_popularity
    from ..splits import cold_item_split
    from .coldstart import held_out_popularity

    table = {r["model"]: r for r in multi.table(("recall", "ndcg"))}
    pops = {}
    for run in multi.runs:
        cold = cold_item_split(ratings, share=cold_share, rng=run.seed)
        pops[run.seed] = (held_out_popularity(cold), cold.n_users)
    k = multi.k
    rows = []
    for label in multi.labels:
        t = table[label]
        v = t[f"validation_ndcg@{k}"]  # a one-entry grid is not scored on validation: None, not NaN
        row = {"model": label, "n_seeds": t["n_seeds"], f"validation_ndcg@{k}": None if np.isnan(v) else v}
        for m in ("ndcg", "recall"):
            for suffix in ("", "_low", "_high", "_per_seed"):
                row[f"{m}@{k}{suffix}"] = t[f"{m}@{k}{suffix}"]
        row["coverage"] = float(np.mean([r.results[label].metrics["coverage"] for r in multi.runs]))
        row["avg_popularity"] = float(np.mean([np.mean(average_popularity(r.results[label].topk, *pops[r.seed]))
                                               for r in multi.runs]))
        ref = (references or {}).get(label, reference)
        if ref != label:
            c = multi.compare(label, ref, "ndcg", n_boot=n_boot, rng=seed)
            row.update({"reference": ref, "ndcg_diff": c.mean_diff, "ci_low": c.low, "ci_high": c.high,
                        "per_seed_diff": list(c.per_seed), "holds": c.holds,
                        "seeds_above": int(sum(d > 0 for d in c.per_seed))})
        w = (wider or {}).get(label)
        if w is not None and w != label and w in multi.labels:
            c = multi.compare(label, w, "ndcg", n_boot=n_boot, rng=seed)
            row.update({"vs_wider_reference": w, "vs_wider_diff": c.mean_diff, "vs_wider_low": c.low,
                        "vs_wider_high": c.high, "vs_wider_per_seed": list(c.per_seed), "vs_wider_holds": c.holds})
        rows.append(row)
    return rows


def _best_text(labels: list, val_of: dict) -> str:
    """The text source with the best mean validation NDCG; when no grid had two settings nothing
    was scored on validation (all NaN) and the first source is kept."""
    from .choose import best_label

    if not any(np.isfinite(val_of[lb]) for lb in labels):
        return labels[0]
    return best_label({lb: val_of[lb] for lb in labels}, "ndcg")


def run_ablations(ratings, movies, texts: dict, base: dict, seeds, grids: dict | None = None, k: int = K,
                  cold_share: float = 0.1, val_share: float = 0.1, curve_hiddens=(), curve_epochs=(),
                  n_boot: int = 2000, progress: bool = False, on_seed=None, release_texts=None,
                  protocols=("standard", "release"), workers: int = 1) -> dict:
    """The whole study on ``seeds`` (each a cold split; grids chosen on its warm carve-out):

    1. the text sources (``texts``: label → embeddings) through the ridge → EASE map; the source
       used by every other text scorer is the one with the best mean **validation** NDCG@k —
       on the release-day protocol the best among ``release_texts`` (labels of texts a movie has
       before release: no user tags; default: every text);
    2. learning curves on the first seed's warm-item carve-out (validation only; with ``workers``
       > 1 in a thread of this process while step 3 runs in the worker processes);
    3. the standard and release-day scorers, seed by seed (``on_seed(partial)`` after each: the
       result so far, e.g. to save it); ``workers`` > 1 runs the seeds of steps 1 and 3 in that
       many processes (:func:`~recutils.experiments.seeds.multi_seed`: the same result).

    Returns ``{"text_source", "text_multi", "multi", "curves", "rows", "release_rows", "text_rows"}``
    (``multi``: the scorers' :class:`~recutils.experiments.seeds.MultiSeedResult`).
    """
    from .coldstart import cold_multi_seed, warm_item_validation
    from ..splits import cold_item_split

    seeds = [int(s) for s in seeds]
    if not texts:
        raise RecutilsError("run_ablations needs at least one text embedding")
    text_multi = cold_multi_seed(ratings, seeds, text_source_candidates(movies, texts, base, grids), k=k,
                                 cold_share=cold_share, val_share=val_share, progress=progress, workers=workers)
    val_of = {lb: np.mean([r.validation[f"ridge → EASE · metadata + {lb}"] for r in text_multi.runs]) for lb in texts}
    source = _best_text(list(texts), val_of)
    release_texts = list(texts) if release_texts is None else list(release_texts)
    if not release_texts or set(release_texts) - set(texts):
        raise RecutilsError(f"release_texts must be a non-empty subset of the texts {list(texts)}, got {release_texts}")
    release_source = _best_text(release_texts, val_of)
    E = texts[source]
    curves = []
    curve_job = None
    if len(curve_hiddens) and len(curve_epochs):
        val = warm_item_validation(cold_item_split(ratings, share=cold_share, rng=seeds[0]), share=val_share, seed=seeds[0] + 1)
        if workers > 1:  # one thread beside the worker processes: the curves use one core while they run
            curve_job = _Concurrent(learning_curves, val, movies, E, base, curve_hiddens, curve_epochs, k)
        else:
            curves = learning_curves(val, movies, E, base, curve_hiddens, curve_epochs, k)
    if not protocols or set(protocols) - {"standard", "release"}:
        raise RecutilsError(f"protocols must be a non-empty subset of ('standard', 'release'), got {protocols}")
    standard = ablation_candidates(movies, E, base, grids) if "standard" in protocols else {}
    release = release_candidates(movies, texts[release_source], base, grids) if "release" in protocols else {}
    cands = {**standard, **release}
    out = {"text_source": source, "release_text_source": release_source,
           "text_validation": {lb: float(v) for lb, v in val_of.items()}, "text_multi": text_multi, "curves": curves}

    def finished(multi):
        out["multi"] = multi
        out.update(_rows(out, ratings, cold_share, n_boot, seeds[0]))
        if on_seed is not None:
            on_seed(out)

    cold_multi_seed(ratings, seeds, cands, k=k, cold_share=cold_share, val_share=val_share, progress=progress,
                    workers=workers, on_run=finished, groups=[list(g) for g in (standard, release) if g])
    if curve_job is not None:  # (a failed seed raised above; the daemon thread ends with the process)
        out["curves"] = curve_job.result()
        if on_seed is not None:
            on_seed(out)
    return out


class _Concurrent:
    """``fn(*args)`` in a thread started now; :meth:`result` joins it and re-raises its error.

    For work that runs in this process while the seeds run in worker processes (the learning
    curves' single-threaded MLP trainings would otherwise leave a core idle before the pool
    starts). Torch's thread setting is process-wide, so nothing else in this process may run
    torch meanwhile: here the parent only collects the workers' results."""

    def __init__(self, fn, *args):
        import threading

        self._out: dict = {}

        def target():
            try:
                self._out["value"] = fn(*args)
            except BaseException as exc:  # handed to the caller by result()
                self._out["error"] = exc

        self._thread = threading.Thread(target=target, name=f"recutils-{getattr(fn, '__name__', 'job')}", daemon=True)
        self._thread.start()

    def result(self):
        self._thread.join()
        if "error" in self._out:
            raise self._out["error"]
        return self._out["value"]


def _rows(out: dict, ratings, cold_share: float, n_boot: int, seed: int) -> dict:
    multi, text_multi = out["multi"], out["text_multi"]
    labels = multi.labels
    release = [lb for lb in labels if lb.startswith("release · ")]
    standard = [lb for lb in labels if lb not in release]
    refs = {lb: RELEASE_REFERENCE for lb in release}
    wide = {f"{REFERENCE} (wider grid)", f"{RELEASE_REFERENCE} (wider grid)"}
    wider = {lb: f"{'release · ' if lb in release else ''}{REFERENCE} (wider grid)" for lb in labels
             if lb not in {REFERENCE, RELEASE_REFERENCE, *wide}}
    rows = ablation_rows(multi, ratings, REFERENCE, cold_share, n_boot, seed, references=refs, wider=wider)
    text_rows = ablation_rows(text_multi, ratings, "ridge → EASE · metadata", cold_share, n_boot, seed)
    extra = []
    for a, b in ((RELEASE_REFERENCE, REFERENCE), ("release · MLP → ALS · metadata + text", REFERENCE)):
        if a in labels and b in labels:
            c = multi.compare(a, b, "ndcg", n_boot=n_boot, rng=seed)
            extra.append({"a": a, "b": b, "ndcg_diff": c.mean_diff, "ci_low": c.low, "ci_high": c.high,
                          "per_seed": list(c.per_seed), "holds": c.holds})
    return {"rows": [r for r in rows if r["model"] in standard], "release_rows": [r for r in rows if r["model"] in release],
            "text_rows": text_rows, "cross_protocol": extra}


def ablation_frame(rows: list[dict], k: int = K):
    """A display table of :func:`ablation_rows`: mean [t-interval] of NDCG@k and recall@k, the
    pooled difference [CI] against the reference, seeds above it, holds, coverage, popularity."""
    import pandas as pd

    def iv(r, m):
        return f"{r[f'{m}@{k}']:.3f} [{r[f'{m}@{k}_low']:.3f}, {r[f'{m}@{k}_high']:.3f}]"

    out = []
    for r in rows:
        d = (f"{r['ndcg_diff']:+.3f} [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]" if "ndcg_diff" in r else "reference")
        out.append({"model": r["model"], f"NDCG@{k}": iv(r, "ndcg"), f"recall@{k}": iv(r, "recall"), "vs reference": d,
                    "seeds above": f"{r['seeds_above']}/{r['n_seeds']}" if "ndcg_diff" in r else "",
                    "holds": r.get("holds", ""), "coverage": round(r["coverage"], 3),
                    "avg_popularity": round(r["avg_popularity"], 4)})
    return pd.DataFrame(out).set_index("model")


def plot_curves(curves: list[dict], title: str = "MLP → ALS on the warm-item carve-out"):
    """Validation NDCG against epochs per hidden size: solid without text, dashed with it."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    hiddens = sorted({r["mlp_hidden"] for r in curves})
    for i, h in enumerate(hiddens):
        for text, style in ((False, "-"), (True, "--")):
            pts = sorted((r["mlp_epochs"], r["val_ndcg"]) for r in curves if r["mlp_hidden"] == h and r["text"] == text)
            if pts:
                ax.plot(*zip(*pts), style, marker="o", color=f"C{i}", label=f"{h} hidden{' + text' if text else ''}")
    ax.set_xscale("log")
    ax.set_xlabel("epochs")
    ax.set_ylabel("validation NDCG")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def stronger_reference(ratings, movies, E, base: dict, chosen_by_seed: dict, labels, wide_grid: dict, k: int = K,
                       cold_share: float = 0.1, val_share: float = 0.1, n_boot: int = 2000, grids: dict | None = None,
                       progress: bool = False, on_seed=None) -> dict:
    """Re-check ``labels`` (text scorers of a finished :func:`run_ablations`, refitted with the
    parameters their seeds chose on validation: ``chosen_by_seed[seed][label]``) against the
    metadata-only MLP of their protocol with a wider grid (``wide_grid``: ``mlp_hidden`` ×
    ``mlp_epochs``, chosen per seed on the warm-item carve-out as well). Returns rows as
    :func:`ablation_rows` (``on_seed(rows)`` after every seed)."""
    from .coldstart import cold_multi_seed
    from .seeds import MultiSeedResult
    from ..models.coldstart import ContentToCF

    every = {**ablation_candidates(movies, E, base, grids), **release_candidates(movies, E, base, grids)}
    wide = tuple({"mlp_hidden": h, "mlp_epochs": e} for h in wide_grid["mlp_hidden"] for e in wide_grid["mlp_epochs"])
    als = dict(target="als", item_table=movies, **base["als"])
    refs = {"MLP → ALS · metadata (wider grid)": ColdCandidate(_make(ContentToCF, mapper="mlp", text=False, **als), wide),
            "release · MLP → ALS · metadata (wider grid)": ColdCandidate(
                _make(ContentToCF, mapper="mlp", text=False, release_day=True, **als), wide)}
    refs = {lb: c for lb, c in refs.items() if any(x.startswith("release · ") == lb.startswith("release · ") for x in labels)}
    runs = []
    rows = []
    for seed, chosen in chosen_by_seed.items():
        cands = {**refs, **{lb: ColdCandidate(every[lb].make, (dict(chosen[lb]),)) for lb in labels}}
        runs += cold_multi_seed(ratings, [int(seed)], cands, k=k, cold_share=cold_share, val_share=val_share,
                                progress=progress).runs
        multi = MultiSeedResult(runs=list(runs), k=k, metric="ndcg")
        ref_of = {lb: ("release · MLP → ALS · metadata (wider grid)" if lb.startswith("release · ") else
                       "MLP → ALS · metadata (wider grid)") for lb in multi.labels}
        rows = ablation_rows(multi, ratings, "MLP → ALS · metadata (wider grid)", cold_share, n_boot, int(runs[0].seed),
                             references=ref_of)
        for r in rows:
            r["chosen"] = {s.seed: s.chosen[r["model"]] for s in multi.runs}
        if on_seed is not None:
            on_seed(rows)
    return {"rows": rows}
