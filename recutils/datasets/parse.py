"""Parsing with one-line errors: a bad file gives a :class:`DataError` naming it and the problem.

``pd.read_csv`` runs first, as before (so good files give exactly the frames they always
gave); the columns and dtypes are then checked. Only when that fails is the file read
again, line by line with :mod:`csv`, to find the first bad line, e.g.
``…/ratings.csv line 1234: rating 'abc' is not a number``.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError

#: strings pandas reads as a missing value by default
_NA = {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>",
       "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"}
_INT_RE = re.compile(r"^\s*[+-]?\d+\s*$")


@dataclass(frozen=True)
class Col:
    name: str
    kind: str  #: "int", "float" or "str"
    required: bool = True  #: no missing values allowed


def _one_line(exc) -> str:
    return " ".join(str(exc).split())


def _empty(path: Path) -> DataError:
    return DataError(f"{path} is empty (0 bytes)" if _size(path) == 0 else f"{path} is empty (no header line)")


def _size(path: Path) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return -1


def _cell_problem(col: Col, v: str) -> str | None:
    if v.strip() in _NA:
        if not col.required:
            return None
        return f"{col.name} is empty" if not v.strip() else f"{col.name} is missing ({v!r})"
    if col.kind == "int" and not _INT_RE.match(v):
        return f"{col.name} {v!r} is not an integer"
    if col.kind == "int" and not -(2 ** 63) <= int(v) < 2 ** 63:
        return f"{col.name} {v.strip()} is out of range (a 64-bit integer: at most 19 digits)"
    if col.kind == "float":
        try:
            float(v)
        except ValueError:
            return f"{col.name} {v!r} is not a number"
    return None


def _ends_with_newline(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            fh.seek(-1, os.SEEK_END)
            return fh.read(1) in (b"\n", b"\r")
    except OSError:
        return True


def diagnose_csv(path: Path, cols: list[Col], require_rows: bool = True) -> str | None:
    """The first problem in a CSV file (one line naming the file and line), or None."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            try:
                header = next(reader, None)
                if header is None or not any(h.strip() for h in header):
                    return f"{path} is empty (no header line)"
                missing = [c.name for c in cols if c.name not in header]
                if missing:
                    return (f"{path}: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                            f"(header line: {','.join(header)!r})")
                idx = [(c, header.index(c.name)) for c in cols]
                n_rows = 0
                for row in reader:
                    if not row:  # blank line: pandas skips it too
                        continue
                    n_rows += 1
                    line = reader.line_num
                    if len(row) != len(header):
                        msg = f"{path} line {line}: expected {len(header)} fields ({','.join(header)}), found {len(row)}"
                        if next(reader, None) is None and not _ends_with_newline(path):
                            msg += "; the file ends mid-line (cut short?)"
                        return msg
                    for c, i in idx:
                        p = _cell_problem(c, row[i])
                        if p:
                            return f"{path} line {line}: {p}"
                if require_rows and n_rows == 0:
                    return f"{path} has a header but no data rows"
            except csv.Error as exc:
                return f"{path} line {reader.line_num}: {_one_line(exc)}"
    except UnicodeDecodeError as exc:
        return f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); is it the right file?"
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror or exc}"
    return None


def _frame_problem(df: pd.DataFrame, cols: list[Col], require_rows: bool) -> str | None:
    """A short reason why a parsed frame is not what the loader promises, or None."""
    if not isinstance(df.index, pd.RangeIndex):  # more fields than header names: pandas made an index
        return "more fields than header names"
    for c in cols:
        if c.name not in df.columns:
            return f"missing column {c.name}"
        s = df[c.name]
        if c.kind == "int" and s.dtype.kind not in "iu":
            return f"{c.name} is not all integers"
        if c.kind == "float" and s.dtype.kind not in "fiu":
            return f"{c.name} is not all numbers"
        if c.required and s.isna().any():
            return f"{c.name} has missing values"
    if require_rows and len(df) == 0:
        return "no data rows"
    return None


def read_csv(path: Path, cols: list[Col], require_rows: bool = True, **kwargs) -> pd.DataFrame:
    """``pd.read_csv(path, **kwargs)``, then checked; every failure is a one-line DataError."""
    path = Path(path)
    if _size(path) == 0:
        raise _empty(path)
    try:
        df = pd.read_csv(path, **kwargs)
    except pd.errors.EmptyDataError:
        raise _empty(path) from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); is it the right file?") from None
    except (ValueError, OSError, OverflowError) as exc:  # ParserError is a ValueError
        msg = diagnose_csv(path, cols, require_rows) or f"{path}: cannot parse as CSV ({_one_line(exc)})"
        raise DataError(msg) from None
    reason = _frame_problem(df, cols, require_rows)
    if reason is not None:
        msg = diagnose_csv(path, cols, require_rows) or f"{path}: {reason}"
        raise DataError(msg)
    return df


def read_parquet(path: Path, columns: list[str], require_rows: bool = True) -> pd.DataFrame:
    """``pd.read_parquet(path)`` with the expected columns checked; failures are one-line DataErrors."""
    path = Path(path)
    if _size(path) == 0:
        raise _empty(path)
    errors: tuple = (ValueError, OSError, TypeError)
    try:
        import pyarrow

        errors += (pyarrow.ArrowException,)
    except ImportError:  # pragma: no cover - pandas says which engine is missing
        pass
    try:
        df = pd.read_parquet(path)
    except errors as exc:
        text = _one_line(exc)
        what = "not a parquet file" if "magic bytes" in text or "Parquet file size is 0" in text else "cannot read it as parquet"
        raise DataError(f"{path}: {what} ({text})") from None
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    if require_rows and len(df) == 0:
        raise DataError(f"{path} has no rows")
    return df


# --------------------------------------------------------------------------- '::'-separated .dat files
# ml-1m and ml-10m: ``UserID::MovieID::Rating::Timestamp`` and ``MovieID::Title::Genres``, no header.
# ml-1m's movies.dat is ISO-8859-1 (accented titles), ml-10m's is UTF-8: UTF-8 is tried first.

_DAT_RATING_FIELDS = ("userId", "movieId", "rating", "timestamp")


def _diagnose_dat_ratings(path: Path) -> str:
    kinds = (("userId", "int"), ("movieId", "int"), ("rating", "float"), ("timestamp", "int"))
    try:
        with open(path, encoding="latin-1") as fh:
            for line_no, line in enumerate(fh, 1):
                line = line.rstrip("\r\n")
                if not line:
                    continue
                parts = line.split("::")
                if len(parts) != 4:
                    return (f"{path} line {line_no}: expected 4 '::'-separated fields "
                            f"(UserID::MovieID::Rating::Timestamp), found {len(parts)}")
                for (name, kind), v in zip(kinds, parts):
                    p = _cell_problem(Col(name, kind), v)
                    if p:
                        return f"{path} line {line_no}: {p}"
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror or exc}"
    return f"{path}: cannot parse as '::'-separated ratings"


def read_dat_ratings(path: Path) -> pd.DataFrame:
    """``ratings.dat`` → ``userId, movieId, rating, timestamp`` (int64, int64, float64, int64).

    Fast path: the C parser splits on ``:`` (``a::b`` gives an empty field between a and b),
    so the four values are fields 0, 2, 4, 6; any irregular line is found and named by a
    line-by-line pass (one-line :class:`DataError`)."""
    path = Path(path)
    if _size(path) == 0:
        raise _empty(path)
    try:
        raw = pd.read_csv(path, sep=":", header=None, usecols=[0, 2, 4, 6], names=list(range(7)),
                          dtype={0: "int64", 2: "int64", 4: "float64", 6: "int64"}, engine="c")
        ok = raw.notna().all().all() and len(raw) > 0
    except (ValueError, OSError, OverflowError, pd.errors.ParserError):
        ok = False
    if not ok:
        raise DataError(_diagnose_dat_ratings(path))
    raw.columns = list(_DAT_RATING_FIELDS)
    return raw.reset_index(drop=True)


def read_dat_movies(path: Path) -> pd.DataFrame:
    """``movies.dat`` → ``movieId, title, genres`` (titles may contain ``:``; split on the first
    and last ``::``)."""
    path = Path(path)
    if _size(path) == 0:
        raise _empty(path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    ids, titles, genres = [], [], []
    for line_no, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        head, sep1, rest = line.partition("::")
        title, sep2, genre = rest.rpartition("::")
        if not (sep1 and sep2):
            raise DataError(f"{path} line {line_no}: expected 3 '::'-separated fields (MovieID::Title::Genres)")
        if not _INT_RE.match(head):
            raise DataError(f"{path} line {line_no}: movieId {head!r} is not an integer")
        ids.append(int(head))
        titles.append(title)
        genres.append(genre)
    if not ids:
        raise DataError(f"{path} has no data rows")
    return pd.DataFrame({"movieId": np.asarray(ids, dtype=np.int64), "title": titles, "genres": genres})
