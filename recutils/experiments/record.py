"""The one result record of a study: what a notebook found, written as ``metrics.json`` and
``config.json`` with the provenance the regression test derives its tolerances from.

A notebook opens one record at the top and hands it each result as it is made; nothing builds
a ``metrics.json`` dict by hand::

    rec = Record("reports/01_item_cf", k=25, params={"seed": 42, ...})
    rec["split"] = split.summary()
    rec.table("Beyond accuracy", rows)            # metrics["tables"][title]
    rec.results(res)                              # provenance of every row label of an experiment
    rec.multi_seed(ms)                            # ... of a repeated-split run
    rec.write()                                   # metrics.json + config.json, atomically

Values may be DataFrames (→ records), dataclasses (→ their ``as_dict()`` or fields), numpy
scalars and arrays; both files are written with :func:`recutils.io.write_json` (atomic).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..errors import RecutilsError
from .provenance import Provenance

__all__ = ["Record", "jsonable"]


def jsonable(value: Any) -> Any:
    """``value`` with DataFrames, dataclasses, numpy values and tuples made plain JSON values."""
    import pandas as pd

    if isinstance(value, pd.DataFrame):
        return [{str(k): jsonable(v) for k, v in row.items()} for row in value.to_dict("records")]
    if isinstance(value, pd.Series):
        return jsonable(value.to_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        as_dict = getattr(value, "as_dict", None)
        return jsonable(as_dict() if callable(as_dict) else dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k) if not isinstance(k, str) else k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


class Record:
    """``metrics`` (what was found) and ``config`` (what was run), written once at the end.

    ``rec[key] = value`` sets a top-level entry of ``metrics.json``; :meth:`table` files a
    titled table under ``tables``; :meth:`results` / :meth:`multi_seed` / :meth:`produced_by`
    fill the ``provenance`` section; :meth:`configure` fills ``config.json``."""

    def __init__(self, output_dir, k: int | None = None, params: Mapping | None = None, default_metric=None):
        self.out = Path(output_dir)
        self.metrics: dict = {}
        self.config: dict = {"params": jsonable(dict(params))} if params is not None else {}
        self.provenance = Provenance(k=int(k), default_metric=default_metric) if k is not None else None

    # --- metrics.json --------------------------------------------------------------------------
    def __setitem__(self, key: str, value) -> None:
        self.metrics[key] = jsonable(value)

    def __getitem__(self, key: str):
        return self.metrics[key]

    def __contains__(self, key: str) -> bool:
        return key in self.metrics

    def update(self, **entries) -> "Record":
        for key, value in entries.items():
            self[key] = value
        return self

    def table(self, title: str, rows, key: str = "tables") -> "Record":
        """``metrics[key][title] = rows`` (a list of row dicts or a DataFrame)."""
        self.metrics.setdefault(key, {})[title] = jsonable(rows)
        return self

    # --- provenance ----------------------------------------------------------------------------
    def _prov(self) -> Provenance:
        if self.provenance is None:
            raise RecutilsError("this record was opened without k: it has no provenance section")
        return self.provenance

    def results(self, results: Mapping, *extra) -> "Record":
        """Every ``label → EvalResult`` names its producer (``extra``: more sources behind each row)."""
        self._prov().add_results(dict(results), *extra)
        return self

    def multi_seed(self, ms) -> "Record":
        """Every model of a :class:`~recutils.experiments.seeds.MultiSeedResult`."""
        self._prov().add_multi_seed(ms)
        return self

    def produced_by(self, label: str, *sources, **counts) -> "Record":
        """:meth:`Provenance.add`: the producer of rows labelled ``label``."""
        self._prov().add(label, *sources, **counts)
        return self

    def produced_by_all(self, models: Mapping, *extra, n_users: int, n_items: int | None = None) -> "Record":
        """:meth:`produced_by` for every ``label → model`` (``extra`` sources added to each)."""
        self._prov().add_all(dict(models), *extra, n_users=n_users, n_items=n_items)
        return self

    def column(self, field_name: str, *labels: str) -> "Record":
        """Every field ``field_name`` (in any row) also uses the output of ``labels`` (e.g. a
        diversity measured in an encoder's space)."""
        self._prov().column(field_name, *labels)
        return self

    def reference(self, scope: str, *labels: str) -> "Record":
        """Differences under ``scope`` (a table's title, a section) are also taken against ``labels``."""
        self._prov().reference(scope, *labels)
        return self

    # --- config.json ---------------------------------------------------------------------------
    def configure(self, **entries) -> "Record":
        """Top-level entries of ``config.json`` (what was run: models, chosen settings)."""
        for key, value in entries.items():
            self.config[key] = jsonable(value)
        return self

    # --- writing -------------------------------------------------------------------------------
    def write(self, metrics_name: str = "metrics.json", config_name: str = "config.json") -> list[Path]:
        """Write ``metrics.json`` (with ``provenance`` last) and ``config.json`` atomically."""
        from ..io import write_json

        self.out.mkdir(parents=True, exist_ok=True)
        metrics = dict(self.metrics)
        if self.provenance is not None:
            metrics["provenance"] = self.provenance.as_dict()
        paths = [write_json(self.out / metrics_name, metrics)]
        if self.config:
            paths.append(write_json(self.out / config_name, self.config))
        return paths
