"""Choosing a blend of a CF base with content scores, on a validation split (never on test).

- :func:`tune_alpha`: the weight α of ``α·minmax(CF) + (1 − α)·minmax(content)`` for one
  normalisation of the base;
- :func:`select_blend`: α and the base normalisation together (the study normalises the base
  over every item; "candidates" over the unseen items only) → a :class:`BlendChoice`;
- :func:`tune_blend`: the choice made on validation and applied to test, as one fitted
  :class:`~recutils.models.hybrid.ScoreMatrix` (:class:`TunedBlend`);
- :class:`LearnedBlend`: a logistic regression over the normalised scores of several models on
  the first model's shortlist (:func:`fit_learned_blend`, :func:`apply_learned_blend`).

Every function takes full users × items score matrices; the scores themselves come from
:mod:`recutils.models.hybrid`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..constants import K
from ..errors import RecutilsError
from ..evaluation import evaluate_ranking
from ..evaluation.metrics import top_k
from ..models.hybrid import BASE_NORMS, ScoreMatrix, blend, minmax_rows, seen_mask
from .choose import choose_on_validation


def tune_alpha(split, base_scores: np.ndarray, content_scores: np.ndarray, alphas, k: int = K,
               metric: str = "ndcg", base_norm: str = "all") -> tuple[float, list[dict]]:
    """Evaluate the blend for each ``α`` on ``split`` (a *validation* split: its test part is the
    validation carve-out) and return ``(best α, rows)``; ties keep the larger α (closer to the base)."""
    users = split.evaluable_users()
    seen = seen_mask(split, users)

    def score(option):
        full = np.full((split.n_users, split.n_items), -np.inf)
        full[users] = blend(base_scores[users], content_scores[users], option["alpha"], seen, base_norm)
        r = evaluate_ranking(ScoreMatrix(full).fit(split), split, k, users=users)
        return {m: r.metrics[m] for m in ("precision", "recall", "ndcg", "map")}

    if not len(alphas):
        raise RecutilsError("empty alpha grid")
    choice = choose_on_validation([{"alpha": float(a)} for a in alphas], score, metric,
                                  tie_break=lambda row: row["alpha"])
    return choice.best["alpha"], choice.rows


@dataclass(frozen=True)
class BlendChoice:
    """The α and base normalisation chosen on validation, their validation ``score`` (the
    metric chosen by), and every row tried (``alpha``, ``base_norm``, P/R/NDCG/MAP)."""

    alpha: float
    base_norm: str
    score: float
    rows: list


def select_blend(split, base_scores: np.ndarray, content_scores: np.ndarray, alphas, k: int = K,
                 metric: str = "ndcg", base_norms=BASE_NORMS) -> BlendChoice:
    """:func:`tune_alpha` for each base normalisation in ``base_norms`` (in order) on ``split``
    (a *validation* split); the normalisation whose best α scores highest wins, ties keep the
    earlier one."""
    per_norm = {}

    def score(option):
        a, rows = tune_alpha(split, base_scores, content_scores, alphas, k=k, metric=metric,
                             base_norm=option["base_norm"])
        per_norm[option["base_norm"]] = (a, rows)
        return {metric: next(r[metric] for r in rows if r["alpha"] == a)}

    if not len(base_norms):
        raise RecutilsError("select_blend needs at least one base normalisation")
    choice = choose_on_validation([{"base_norm": n} for n in base_norms], score, metric)
    norm = choice.best["base_norm"]
    rows = [{"base_norm": n, **r} for n in base_norms for r in per_norm[n][1]]
    return BlendChoice(per_norm[norm][0], norm, choice.score, rows)


@dataclass(frozen=True)
class TunedBlend:
    """A blend chosen on validation and applied to test: the :class:`BlendChoice` and the test
    score matrix as a fitted :class:`~recutils.models.hybrid.ScoreMatrix` (``model``)."""

    choice: BlendChoice
    model: ScoreMatrix

    @property
    def label(self) -> str:
        return self.model.name


def tune_blend(split, validation, base: tuple, content: tuple, alphas=(), k: int = K, metric: str = "ndcg",
               base_norms=BASE_NORMS, name="blend", determinism: str = "exact",
               choice: BlendChoice | None = None) -> TunedBlend:
    """The one way a CF + content blend is tuned and applied: α and the base normalisation
    chosen on ``validation`` (:func:`select_blend`), then the blend of the *test-side* scores
    on ``split``.

    ``base`` and ``content``: ``(validation-side scores, test-side scores)``, full users × items
    matrices from models fitted on ``validation``'s and ``split``'s training parts.
    ``choice``: reuse a choice made for another blend (nothing is chosen; the validation-side
    scores may be ``None``). ``name``: the row label, or a function of the choice."""
    from ..models.hybrid import blend_scores_all

    if choice is None:
        choice = select_blend(validation, base[0], content[0], alphas, k=k, metric=metric, base_norms=tuple(base_norms))
    label = name(choice) if callable(name) else str(name)
    S = blend_scores_all(split, base[1], content[1], choice.alpha, choice.base_norm)
    return TunedBlend(choice, ScoreMatrix(S, label, determinism).fit(split.without_test()))


# --- a learned blend ------------------------------------------------------------------------
@dataclass
class LearnedBlend:
    """``score = Σ_f w_f · minmax_f + b`` over a shortlist: the top ``shortlist`` unseen items of the
    *first* model; each model's scores min-max normalised per user over the unseen items. The
    weights are a logistic regression of "relevant in the validation part" on those features,
    fitted on a validation split (:func:`fit_learned_blend`) and applied unchanged to test."""

    names: list
    coef: list
    intercept: float
    shortlist: int
    C: float = 1.0

    def as_dict(self) -> dict:
        return {"names": list(self.names), "coef": [round(float(c), 6) for c in self.coef],
                "intercept": round(float(self.intercept), 6), "shortlist": self.shortlist, "C": self.C}


def _shortlist_features(split, scores: dict, users: np.ndarray, shortlist: int):
    mats = [np.asarray(s[users], dtype=np.float64) for s in scores.values()]
    seen = seen_mask(split, users)
    first = np.where(seen, -np.inf, mats[0])
    top = top_k(first, min(shortlist, split.n_items))
    rows = np.repeat(np.arange(len(users)), top.shape[1])
    cols = top.ravel()
    X = np.stack([minmax_rows(M, ~seen)[rows, cols] for M in mats], axis=1)
    X[~np.isfinite(X)] = 0.0
    ok = np.isfinite(first[rows, cols])
    return top, rows, cols, X, ok


def fit_learned_blend(split, scores: dict, shortlist: int = 200, C: float = 1.0) -> LearnedBlend:
    """Fit :class:`LearnedBlend` on ``split`` (a *validation* split) from full users × items score
    matrices ``{name: scores}`` (first = the shortlist model), over its evaluable users."""
    from sklearn.linear_model import LogisticRegression

    if not scores:
        raise RecutilsError("fit_learned_blend needs at least one score matrix")
    users = split.evaluable_users()
    _, rows, cols, X, ok = _shortlist_features(split, scores, users, shortlist)
    y = np.asarray(split.relevant()[users][rows, cols]).ravel() > 0
    if y[ok].all() or not y[ok].any():
        raise RecutilsError("the validation shortlist has only one class: cannot fit a blend")
    lr = LogisticRegression(C=C, max_iter=2000).fit(X[ok], y[ok])
    return LearnedBlend(list(scores), lr.coef_[0].tolist(), float(lr.intercept_[0]), shortlist, C)


def apply_learned_blend(blend_: LearnedBlend, split, scores: dict, users=None) -> np.ndarray:
    """Full users × items scores of a fitted :class:`LearnedBlend` (``-inf`` outside the shortlist)."""
    if list(scores) != list(blend_.names):
        raise RecutilsError(f"scores must be given for {blend_.names} in that order, got {list(scores)}")
    users = np.arange(split.n_users) if users is None else np.asarray(users, dtype=np.int64)
    top, rows, cols, X, ok = _shortlist_features(split, scores, users, blend_.shortlist)
    s = X @ np.asarray(blend_.coef) + blend_.intercept
    s[~ok] = -np.inf
    out = np.full((split.n_users, split.n_items), -np.inf)
    out[users[rows], cols] = s
    return out
