"""One comparison, in the shape the field knows (cornac's ``Experiment(eval_method, models,
metrics).run()``): several models fitted on one split's training part and evaluated on its test
part, then tables, paired intervals and beyond-accuracy columns from the same results.

    exp = Experiment(split, {"MostPop": create("mostpop"), "EASE": create("ease")}, k=25)
    res = exp.run()                       # {label: EvalResult}
    res.table(("precision", "ndcg"))      # one row per model
    res.paired("EASE", "ndcg")            # {label: PairedCI} against EASE, same users

A split with cold items ranks only those (the cold-item protocol), unless ``candidates`` says
otherwise. Models already fitted on the training part run with ``fit=False``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from ..constants import K
from ..errors import RecutilsError

__all__ = ["Experiment", "ExperimentResult"]


class ExperimentResult(dict):
    """``{label: EvalResult}`` in the order the models were given, with the views a study asks of it."""

    def __init__(self, results: Mapping, split=None, k: int = K):
        super().__init__(results)
        self.split = split
        self.k = k

    def table(self, metrics: Sequence[str] = ("precision", "recall", "ndcg"), label: str = "model",
              suffix: bool = False, n_users: bool = True) -> list[dict]:
        """One row per model: ``label`` → its label, each metric (``metric@k`` with ``suffix``)
        and its number of users."""
        rows = []
        for lab, r in self.items():
            row = {label: lab, **{(f"{m}@{self.k}" if suffix else m): float(r.metrics[m]) for m in metrics}}
            if n_users:
                row["n_users"] = int(r.metrics["n_users"])
            rows.append(row)
        return rows

    def paired(self, reference: str, metric: str = "ndcg", n_boot: int = 2000, rng=0,
               labels: Sequence[str] | None = None) -> dict:
        """``{label: PairedCI}``: the paired per-user bootstrap of each model (or ``labels``) − the
        ``reference`` model on ``metric``, over the same users."""
        from ..evaluation import paired_bootstrap_ci

        if reference not in self:
            raise RecutilsError(f"reference {reference!r} is not among the models: {', '.join(self)}")
        ref = self[reference]
        out = {}
        for lab in (labels if labels is not None else [x for x in self if x != reference]):
            r = self[lab]
            if not np.array_equal(r.users, ref.users):
                raise RecutilsError(f"{lab!r} and {reference!r} were evaluated on different users")
            out[lab] = paired_bootstrap_ci(r.per_user[metric], ref.per_user[metric], n_boot=n_boot, rng=rng)
        return out

    def mean_cis(self, metrics: Sequence[str], n_boot: int = 1000, rng=0) -> dict:
        """``{label: {metric: {"mean", "low", "high"}}}``: bootstrap intervals over users."""
        from ..evaluation.beyond import mean_ci

        out = {}
        for lab, r in self.items():
            out[lab] = {}
            for m in metrics:
                mean, lo, hi = mean_ci(r.per_user[m], n_boot=n_boot, rng=rng)
                out[lab][m] = {"mean": mean, "low": lo, "high": hi}
        return out

    def beyond(self, genres=None, embeddings=None, label: str = "model") -> list[dict]:
        """Per model: MRR@k and the beyond-accuracy columns of its top-k lists
        (:func:`recutils.evaluation.beyond.beyond_accuracy`)."""
        from ..evaluation.beyond import beyond_accuracy, metrics_by_k

        if self.split is None:
            raise RecutilsError("beyond-accuracy columns need the split the results came from")
        rel = self.split.relevant()
        rows = []
        for lab, r in self.items():
            mrr = metrics_by_k(r.topk, rel[r.users], [self.k])["mrr"][0]
            rows.append({label: lab, f"mrr@{self.k}": mrr,
                         **beyond_accuracy(r.topk, self.split.train_binary, genres=genres, embeddings=embeddings)})
        return rows

    def by_k(self, ks: Sequence[int]) -> dict:
        """``{label: {metric: [value at each k]}}`` from each model's top-k lists (k ≥ max(ks))."""
        from ..evaluation.beyond import metrics_by_k

        rel = self.split.relevant()
        return {lab: metrics_by_k(r.topk, rel[r.users], list(ks)) for lab, r in self.items()}

    def segments(self, user_segments, item_bins, n_boot: int = 1000, rng=0, metric: str = "ndcg",
                 label: str = "model") -> list[dict]:
        """Per model: ``metric``@k per user segment and recall@k per item bin, each with a
        bootstrap interval (rows: model, segment, metric, n, mean, low, high)."""
        from ..evaluation.beyond import mean_ci, recall_by_item_bin, segment_means

        rel = self.split.relevant()
        first = next(iter(self.values()))
        rows = []
        for lab, r in self.items():
            if not np.array_equal(r.users, first.users):
                raise RecutilsError(f"{lab!r} was evaluated on other users than the first model")
            for sm in segment_means(r.per_user[metric], user_segments, n_boot=n_boot, rng=rng):
                rows.append({label: lab, "segment": f"users {sm.segment}", "metric": f"{metric}@{self.k}",
                             "n": sm.n, "mean": sm.mean, "low": sm.low, "high": sm.high})
            for b, vals in recall_by_item_bin(r.topk, rel[r.users], item_bins).items():
                m_, lo, hi = mean_ci(vals, n_boot=n_boot, rng=rng)
                rows.append({label: lab, "segment": f"items {b}", "metric": f"recall@{self.k}",
                             "n": int(np.isfinite(vals).sum()), "mean": m_, "low": lo, "high": hi})
        return rows


@dataclass
class Experiment:
    """``Experiment(split, models, k).run()``: each model fitted on ``split.without_test()``
    (unless ``fit=False``) and evaluated at ``k`` on its test part.

    ``candidates``: a boolean mask of the items that may be ranked, ``None`` for every item, or
    ``"auto"`` (default): the split's cold items when it has any, else every item. ``names``: record each result under its label (``EvalResult.model``)."""

    split: object
    models: Mapping[str, object]
    k: int = K
    candidates: object = "auto"
    fit: bool = True
    names: bool = False
    evaluate_kwargs: dict = field(default_factory=dict)

    def run(self) -> ExperimentResult:
        from ..evaluation import evaluate_ranking

        if not self.models:
            raise RecutilsError("an experiment needs at least one model")
        cands = self.candidates
        if isinstance(cands, str) and cands == "auto":
            cold = getattr(self.split, "cold_items", None)
            cands = cold if cold is not None and np.asarray(cold).any() else None
        train = self.split.without_test() if self.fit else None
        out = {}
        for label, m in self.models.items():
            if self.fit:
                m.fit(train)
            out[label] = evaluate_ranking(m, self.split, self.k, candidates=cands,
                                          name=label if self.names else None, **self.evaluate_kwargs)
        return ExperimentResult(out, self.split, self.k)
