"""Markdown tables for the report pages (``reports/README.md``, ``docs/results.md``): a table of
row dicts, the headline tables a ``metrics.json`` declares, and the timings table."""

from __future__ import annotations

import math
from typing import Any

from .timings import STAGE_SECONDS, machine_line, timing_rows


def _cell(v: Any) -> str:
    """One table cell as text: 4 decimals for floats, empty for None/NaN, ``|`` escaped."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        if v.is_integer():
            return f"{v:g}"
        return f"{v:.4f}" if abs(v) < 1e5 else f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        v = ", ".join(map(str, v))
    return str(v).replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: list[dict]) -> str:
    """A list of row dicts as a markdown table (columns in order of first appearance).

    Cells are formatted by :func:`_cell` first, so ``to_markdown`` only lays the text out
    (``disable_numparse``: "0.2500" stays as written)."""
    import pandas as pd

    if not rows:
        return "_(empty table)_"
    cols: list[str] = []
    for r in rows:
        cols += [c for c in r if c not in cols]
    frame = pd.DataFrame([[_cell(r.get(c)) for c in cols] for r in rows], dtype=object)
    return frame.to_markdown(index=False, tablefmt="github", headers=[_cell(c) for c in cols],
                             disable_numparse=True)


def metrics_tables(metrics: dict) -> list[tuple[str | None, list[dict]]]:
    """The headline tables a ``metrics.json`` declares: ``"table"`` (rows) and ``"tables"``
    (``{"title": rows}``), as ``(title, rows)`` pairs."""
    out: list[tuple[str | None, list[dict]]] = []
    t = metrics.get("table")
    if isinstance(t, list):
        out.append((None, [r for r in t if isinstance(r, dict)]))
    ts = metrics.get("tables")
    if isinstance(ts, dict):
        out += [(str(k), [r for r in v if isinstance(r, dict)]) for k, v in ts.items() if isinstance(v, list)]
    return out


def timings_text(entries: list, run: dict | None = None) -> str:
    """The machine line (when ``run`` describes this ``reproduce``: machine, load before/after,
    seconds, t0) and the table of seconds per notebook and long stage."""
    head = (f"Seconds per notebook, and per stage of {STAGE_SECONDS:g} s or more (share of its notebook). "
            "A run that filled cold caches (models, embeddings) takes longer than a rerun.")
    if run:
        head = machine_line(run) + "\n\n" + head
    rows = timing_rows([(e.name, e.timings) for e in entries], since=(run or {}).get("t0"))
    return head + "\n\n" + markdown_table(rows)
