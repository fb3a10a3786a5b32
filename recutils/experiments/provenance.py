"""The ``provenance`` section of a notebook's ``metrics.json``: which producer made each row.

The regression test derives every recorded number's tolerance from it (:mod:`recutils.provenance`):
a notebook names, once, the producer behind each row label it writes — a fitted model, or the
model families behind a derived row — and a new table, validation grid or beyond-accuracy
column under that label gets the right tolerance without a rule::

    prov = Provenance(k=25)
    prov.add("ALS (implicit; 128 factors)", als_model, n_users=38, n_items=split.n_items)
    prov.add("EASE + MiniLM", "ease", "text", n_users=38)
    metrics["provenance"] = prov.as_dict()

A source is a fitted :class:`~recutils.models.base.Recommender` (its ``determinism``), a
registered model name (its class's ``determinism``), or one of :data:`SOURCES` for the parts
that are not models (text encoders, the cold-start MLP).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import RecutilsError

__all__ = ["Provenance", "SOURCES", "determinism"]


def _text() -> str:
    from ..embeddings import DETERMINISM

    return DETERMINISM


#: sources that are not registered models, and where their determinism is stated
SOURCES = {
    "text": _text,  # sentence-transformer / Qwen embeddings (torch or ONNX Runtime): recutils.embeddings
    "finetune": lambda: "kernel",  # a torch fine-tune of an encoder (recutils.embeddings.finetune)
    "mlp": lambda: "kernel",  # the cold-start MLP (torch; recutils.models.coldstart.mapping)
    "learned_blend": lambda: "exact",  # scikit-learn's logistic regression (lbfgs in numpy, fixed order)
}


def determinism(source) -> str:
    """``"kernel"`` or ``"exact"`` for a model instance, a registered model name or a :data:`SOURCES` name."""
    d = getattr(source, "determinism", None)
    if isinstance(d, str):
        return d
    if isinstance(source, str):
        if source in SOURCES:
            return SOURCES[source]()
        from ..models.registry import get_model_class

        return get_model_class(source).determinism
    raise RecutilsError(f"provenance: cannot tell the determinism of {source!r}")


def _name(source) -> str:
    return source if isinstance(source, str) else str(getattr(source, "name", type(source).__name__))


@dataclass(frozen=True)
class _Evaluated:
    name: str
    determinism: str


@dataclass
class Provenance:
    """Producers by row label, written as ``metrics["provenance"]``."""

    k: int
    default_metric: str | None = None
    producers: dict = field(default_factory=dict)
    references: dict = field(default_factory=dict)
    columns: dict = field(default_factory=dict)

    def column(self, field_name: str, *labels: str) -> "Provenance":
        """Every field ``field_name`` (in any row) also uses the output of ``labels`` — e.g. a
        diversity measured with text embeddings is kernel-dependent even for an exact ranking."""
        self.columns[field_name] = sorted(set(self.columns.get(field_name, [])) | set(labels))
        return self

    def reference(self, scope: str, *labels: str) -> "Provenance":
        """Every difference (``ndcg_diff``, ``ci_low``, ``vs_…``) under the path name ``scope`` (a
        table's title, a section) is also taken against ``labels`` (a table's reference row)."""
        self.references[scope] = sorted(set(self.references.get(scope, [])) | set(labels))
        return self

    def add(self, label: str, *sources, n_users: int | None = None, n_items: int | None = None,
            k: int | None = None) -> "Provenance":
        """Name the producer of rows labelled ``label``: its sources, the users (or queries) its
        evaluation averaged over (the smallest, when the label is evaluated several times) and the
        catalogue size (for coverage)."""
        if not sources:
            raise RecutilsError(f"provenance: {label!r} needs at least one source")
        names = [_name(s) for s in sources]
        kernel = sorted({_name(s) for s in sources if determinism(s) == "kernel"})
        old = self.producers.get(label, {})
        entry = {"sources": sorted(set(old.get("sources", ())) | set(names)),
                 "kernel": sorted(set(old.get("kernel", ())) | set(kernel))}
        entry["determinism"] = "kernel" if entry["kernel"] else "exact"
        for key, v in (("n_users", n_users), ("n_items", n_items), ("k", k)):
            if v is not None or key in old:
                entry[key] = min(int(v), old.get(key, int(v))) if v is not None else old[key]
        self.producers[label] = entry
        return self

    def add_result(self, label: str, result, *extra) -> "Provenance":
        """``add`` from an :class:`~recutils.evaluation.EvalResult`: the evaluated model's
        determinism, its users and candidate items (``extra``: more sources behind the row)."""
        src = _Evaluated(result.model, result.determinism)
        return self.add(label, src, *extra, n_users=int(result.metrics["n_users"]),
                        n_items=int(result.n_candidates) or None, k=int(result.k))

    def add_results(self, results: dict, *extra) -> "Provenance":
        """``add_result`` for every ``label → EvalResult``."""
        for label, r in results.items():
            self.add_result(label, r, *extra)
        return self

    def add_multi_seed(self, ms) -> "Provenance":
        """Every model of a :class:`~recutils.experiments.seeds.MultiSeedResult` (its test results
        on every seed: the smallest number of users)."""
        for run in ms.runs:
            self.add_results(run.results)
        return self

    def add_all(self, models: dict, *extra, n_users: int, n_items: int | None = None) -> "Provenance":
        """``add`` for every ``label → model`` of a dict (``extra`` sources added to each)."""
        for label, m in models.items():
            self.add(label, m, *extra, n_users=n_users, n_items=n_items)
        return self

    def as_dict(self) -> dict:
        out = {"k": int(self.k), "producers": dict(sorted(self.producers.items()))}
        if self.default_metric:
            out["default_metric"] = self.default_metric
        if self.references:
            out["references"] = dict(sorted(self.references.items()))
        if self.columns:
            out["columns"] = dict(sorted(self.columns.items()))
        return out
