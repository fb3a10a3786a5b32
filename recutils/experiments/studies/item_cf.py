"""The study behind ``notebooks/01_item_cf``: item-based collaborative filtering, rebuilt.

What the notebook would otherwise hold in loops and hand-built dicts:

- similar movies: :func:`side_by_side` (one movie, several similarities) and
  :func:`similar_tables` (the top few per example movie and similarity, as recorded);
- one user's recommendations, weighted average vs weighted sum: :func:`user_recommendations`;
- ItemCF tuned on validation per similarity kind, with one grid search over
  kind × centre × normalize: :func:`tune_itemcf` → :class:`ItemCFTuning`; the best row of each
  group of a grid: :func:`best_per`; the best model by validation score: :func:`best_on_validation`;
- candidates tuned and evaluated on one split (the global time split): :func:`tune_and_evaluate`,
  and a table of bootstrap intervals over users: :func:`ci_table`;
- claims across seeds: :func:`seed_claims`; small views of a repeated-split run for the record:
  :func:`without_per_seed`, :func:`chosen_by_seed`; the configuration of each model: :func:`model_configs`.

Every choice goes through :func:`~recutils.experiments.choose.choose_on_validation` (directly
or via :func:`~recutils.experiments.tuning.grid_search` / :func:`~recutils.experiments.seeds.multi_seed`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import pandas as pd

from ...constants import K
from ...errors import RecutilsError
from ..choose import Choice, best_label, choose_on_validation
from ..experiment import ExperimentResult
from ..seeds import Candidate, MultiSeedResult, PooledComparison, SplitProtocol, multi_seed
from ..tuning import grid_search

__all__ = ["ItemCFTuning", "TunedOnSplit", "best_on_validation", "best_per", "chosen_by_seed", "ci_table",
           "model_configs", "seed_claims", "side_by_side", "similar_tables", "tune_and_evaluate", "tune_itemcf",
           "user_recommendations", "without_per_seed"]


# --- similar movies ------------------------------------------------------------------------------
def _titles(movies: pd.DataFrame) -> pd.Series:
    return movies.set_index("movieId")["title"]


def side_by_side(split, sims: Mapping[str, object], movie_id: int, k: int, movies: pd.DataFrame,
                 width: int = 34) -> pd.DataFrame:
    """The ``k`` movies most similar to ``movie_id`` under each similarity of ``sims`` (label →
    item × item matrix), next to each other: columns ``(label, title | sim | n_co)``."""
    from ...models.item_cf import similar_items

    cols = {}
    for label, S in sims.items():
        t = similar_items(S, split, movie_id, k=k, movies=movies)
        cols[(label, "title")] = t["title"].str.slice(0, width).reset_index(drop=True)
        cols[(label, "sim")] = t["similarity"].round(3).reset_index(drop=True)
        cols[(label, "n_co")] = t["n_co"].reset_index(drop=True)
    return pd.DataFrame(cols)


def similar_tables(split, sims: Mapping[str, object], movie_ids: Sequence[int], movies: pd.DataFrame,
                   k: int = 3) -> dict[str, list[dict]]:
    """``{"<title> (<kind>)": [{title, similarity, n_co}, …]}``: the top ``k`` similar movies of
    each movie under each similarity (movies first, then kinds, in the given order)."""
    from ...models.item_cf import similar_items

    title_of = _titles(movies)
    out = {}
    for m in movie_ids:
        for kind, S in sims.items():
            t = similar_items(S, split, m, k=k, movies=movies)
            out[f"{title_of[m]} ({kind})"] = [
                {"title": r.title, "similarity": float(r.similarity), "n_co": int(r.n_co)} for r in t.itertuples()]
    return out


# --- one user's recommendations ------------------------------------------------------------------
def user_recommendations(train, user, movies: pd.DataFrame, k: int = 8, normalize: Sequence[bool] = (True, False),
                         **params) -> dict[str, pd.DataFrame]:
    """``ItemCF(**params, normalize=…)`` fitted on ``train`` for each ``normalize``; the top ``k``
    of ``user`` under each (``rank, movieId, title, score``), labelled "weighted average"
    (normalised) or "weighted sum"."""
    from ...models.item_cf import ItemCF

    title_of = _titles(movies)
    out = {}
    for norm in normalize:
        m = ItemCF(**params, normalize=norm).fit(train)
        rec = m.recommend(user, k=k).assign(title=lambda d: d["movieId"].map(title_of))
        out["weighted average" if norm else "weighted sum"] = rec[["rank", "movieId", "title", "score"]]
    return out


# --- choices on validation -----------------------------------------------------------------------
def best_per(choice: Choice, by: str, keys: Sequence[str], lower_is_better: bool = False) -> dict[object, Choice]:
    """``{value: Choice}``: the best row of ``choice.rows`` among those with ``row[by] == value``
    (values in order of first appearance), by the same metric and with the same tie rule (the
    earliest best row) — as if each group had been searched alone. ``keys``: the parameters
    each ``best`` keeps."""
    if not choice.rows:
        raise RecutilsError("nothing to choose from: the grid has no rows")
    out = {}
    for value in dict.fromkeys(row[by] for row in choice.rows):
        rows = [row for row in choice.rows if row[by] == value]
        picked = choose_on_validation([{"row": i} for i in range(len(rows))], lambda o, rows=rows: rows[o["row"]],
                                      choice.metric, lower_is_better=lower_is_better, keys=["row"])
        best = rows[picked.best["row"]]
        out[value] = Choice({key: best[key] for key in keys}, picked.score, rows, choice.metric)
    return out


def best_on_validation(scores: Mapping[str, float], metric: str = "ndcg") -> str:
    """The label with the best validation score (the first on ties; NaN never wins)."""
    return best_label(scores, metric)


@dataclass(frozen=True)
class ItemCFTuning:
    """One grid search over kind × the rest (``grid``: its rows, kinds outermost) and the
    configuration chosen per kind (``by_kind``: full ItemCF parameters, fixed ones included)."""

    grid: Choice
    by_kind: dict

    @property
    def rows(self) -> list[dict]:
        return self.grid.rows

    def best(self) -> dict[str, dict]:
        """``{kind: ItemCF parameters chosen on validation}``."""
        return {kind: dict(c.best) for kind, c in self.by_kind.items()}

    def scores(self, prefix: str = "ItemCF ") -> dict[str, float]:
        """``{"<prefix><kind>": validation score of its chosen configuration}``."""
        return {f"{prefix}{kind}": c.score for kind, c in self.by_kind.items()}

    def models(self, prefix: str = "ItemCF ") -> dict[str, object]:
        """``{"<prefix><kind>": unfitted ItemCF with the chosen parameters}``."""
        from ...models.item_cf import ItemCF

        return {f"{prefix}{kind}": ItemCF(**cfg) for kind, cfg in self.best().items()}


def tune_itemcf(split, kinds: Sequence[str], grid: Mapping[str, Sequence], fixed: Mapping[str, object],
                k: int = K, metric: str = "ndcg") -> ItemCFTuning:
    """ItemCF on the validation carve-out of ``split``: one :func:`grid_search` over
    ``kind`` × ``grid`` (``fixed`` for every option), then the best configuration of each kind."""
    choice = grid_search("itemcf", split, {"kind": list(kinds), **{key: list(v) for key, v in grid.items()}}, k=k,
                         metric=metric, fixed=dict(fixed))
    return ItemCFTuning(choice, best_per(choice, "kind", [*fixed, "kind", *grid]))


# --- one split: tune, evaluate, intervals --------------------------------------------------------
@dataclass(frozen=True)
class TunedOnSplit:
    """Candidates tuned on one split's validation carve-out and evaluated on its test part."""

    chosen: dict  #: label → parameters chosen on validation
    validation: dict  #: label → validation score of the chosen parameters
    grids: dict  #: label → every validation row
    results: ExperimentResult  #: label → EvalResult on test


def tune_and_evaluate(split, candidates: Mapping[str, Candidate], k: int = K, metric: str = "ndcg") -> TunedOnSplit:
    """Each candidate chosen on ``validation_split(split)`` and refitted on the training part,
    then evaluated on test — the repeated-split runner (:func:`multi_seed`) on this one split."""
    ms = multi_seed(SplitProtocol(lambda _seed: split, name="split"), [0], candidates, k=k, metric=metric)
    run = ms.runs[0]
    return TunedOnSplit(run.chosen, run.validation, run.grids, ExperimentResult(run.results, split, k))


def ci_table(results: ExperimentResult, metrics: Sequence[str] = ("precision", "recall", "ndcg"),
             n_boot: int = 1000, rng=0) -> list[dict]:
    """One row per model: ``model``, ``n_users`` and, per metric, ``metric@k`` with
    ``_low`` / ``_high`` (bootstrap interval over users, :meth:`ExperimentResult.mean_cis`)."""
    cis = results.mean_cis(metrics, n_boot=n_boot, rng=rng)
    k = results.k
    rows = []
    for label, r in results.items():
        row = {"model": label, "n_users": r.metrics["n_users"]}
        for m in metrics:
            c = cis[label][m]
            row.update({f"{m}@{k}": c["mean"], f"{m}@{k}_low": c["low"], f"{m}@{k}_high": c["high"]})
        rows.append(row)
    return rows


# --- across seeds --------------------------------------------------------------------------------
def seed_claims(ms: MultiSeedResult, best: str, metrics: Sequence[str] = ("precision", "ndcg"),
                extra: Sequence[tuple[str, str, str]] = (), n_boot: int = 2000, rng=0) -> dict[str, PooledComparison]:
    """``{"A vs B (metric@k)": PooledComparison}``: ``best`` against every other model on each
    metric, then each ``extra`` ``(a, b, metric)`` whose models were run and that is not already
    there (pooled paired bootstrap, each with its own ``rng``)."""
    out = {}
    for other in ms.labels:
        if other == best:
            continue
        for m in metrics:
            out[f"{best} vs {other} ({m}@{ms.k})"] = ms.compare(best, other, m, n_boot=n_boot, rng=rng)
    for a, b, m in extra:
        name = f"{a} vs {b} ({m}@{ms.k})"
        if {a, b} <= set(ms.labels) and name not in out:
            out[name] = ms.compare(a, b, m, n_boot=n_boot, rng=rng)
    return out


def without_per_seed(rows: Sequence[Mapping]) -> list[dict]:
    """Table rows without their ``…_per_seed`` lists."""
    return [{key: v for key, v in row.items() if not key.endswith("_per_seed")} for row in rows]


def chosen_by_seed(ms: MultiSeedResult) -> dict[str, dict]:
    """``{"<seed>": {label: parameters chosen on that seed's validation}}``."""
    return {str(r.seed): r.chosen for r in ms.runs}


def model_configs(models: Mapping[str, object]) -> dict[str, dict]:
    """``{label: model.config_dict()}``."""
    return {label: m.config_dict() for label, m in models.items()}
