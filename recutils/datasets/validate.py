"""A user's own data checked like the registered data: one line naming the file and line, or a
declared policy.

Registered files are verified by size and SHA-256 (:mod:`.integrity`), so what they hold is
known. A file outside the registry (a flat ``<dir>/ratings.csv``, a synthetic data set, a file
given directly) has its columns and dtypes checked by :mod:`.parse`, and then its content here:

* ids are whole numbers ≥ 0 (the parser already refuses ``1.5`` and ``abc``);
* ratings are finite and on the declared scale — MovieLens' 0.5 to 5 in half stars unless
  the user declares another (``--rating-scale 1:10:1``; ``0:1`` for any value in a range);
* timestamps are plausible: from 1970 to one day from now (seconds since the epoch);
* each (user, movie) pair is rated once, unless the user asks for ``--dedupe last`` (the last
  row in the file wins) or ``--dedupe mean`` (mean rating, latest timestamp);
* every rated movie is in ``movies.csv`` beside the ratings (when there is one), unless the
  user asks for ``--drop-unknown-movies`` (how many were dropped is logged);
* movies are listed once each;
* the file ends with a newline: a last line without one is a file cut mid-record.

Every problem is one :class:`~recutils.errors.DataError` line, ``<file> line N: …``, naming the
first offending row and how many more there are; nothing is measured on silently changed data.
"""

from __future__ import annotations

import csv
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..config import param, validate_config
from ..constants import COL_ITEM, COL_RATING, COL_TIMESTAMP, COL_USER
from ..errors import ConfigError, DataError
from .parse import _ends_with_newline

log = logging.getLogger("recutils.datasets")

MOVIELENS_SCALE = "0.5:5:0.5"
DEDUPE = ("error", "last", "mean")
UNKNOWN_MOVIES = ("error", "drop")
#: timestamps up to this far ahead of the clock are accepted (clock skew)
_FUTURE_SLACK_S = 86_400


def parse_scale(text: str) -> tuple[float, float, float | None]:
    """``"0.5:5:0.5"`` → (low, high, step); ``"0:1"`` → (0, 1, None): any value in the range."""
    parts = str(text).split(":")
    try:
        vals = [float(p) for p in parts]
    except ValueError:
        vals = []
    if len(vals) not in (2, 3) or not all(math.isfinite(v) for v in vals):
        raise ConfigError(f"--rating-scale must look like LOW:HIGH or LOW:HIGH:STEP (e.g. 0.5:5:0.5), got {text!r}")
    low, high, step = vals[0], vals[1], (vals[2] if len(vals) == 3 else None)
    if not low < high:
        raise ConfigError(f"--rating-scale: LOW must be below HIGH, got {text!r}")
    if step is not None and (step <= 0 or not _on_grid(np.array([high]), low, step).all()):
        raise ConfigError(f"--rating-scale: STEP must be positive and reach HIGH from LOW in whole steps, got {text!r}")
    return low, high, step


def _scale_ok(text) -> bool:
    try:
        parse_scale(text)
        return True
    except ConfigError:
        return False


@dataclass
class DataPolicy:
    """How a user's own ratings are checked (the registered data is verified by checksum instead)."""

    #: LOW:HIGH[:STEP] — the declared rating scale (MovieLens: 0.5 to 5 in half stars)
    rating_scale: str = param(MOVIELENS_SCALE, check=_scale_ok, expect="LOW:HIGH or LOW:HIGH:STEP")
    #: a (user, movie) pair rated more than once: "error", keep the "last" row, or the "mean"
    dedupe: str = param("error", choices=DEDUPE)
    #: ratings of movies missing from movies.csv: "error" or "drop" them (counted in the log)
    unknown_movies: str = param("error", choices=UNKNOWN_MOVIES)


def add_arguments(ap) -> None:
    """The data-policy options of a command that reads ratings (``--data-dir``)."""
    ap.add_argument("--rating-scale", default=MOVIELENS_SCALE, metavar="LOW:HIGH[:STEP]",
                    help=f"the scale of your own ratings (default {MOVIELENS_SCALE}: MovieLens half stars)")
    ap.add_argument("--dedupe", default="error", metavar="|".join(DEDUPE[1:]),
                    help="a (user, movie) pair rated twice in your own data: keep the last row or the mean "
                         "(default: an error naming the first ones)")
    ap.add_argument("--drop-unknown-movies", action="store_true",
                    help="drop ratings of movies missing from your movies.csv (default: an error)")


def policy_from_args(a) -> DataPolicy:
    if a.dedupe not in DEDUPE[1:] and a.dedupe != "error":
        raise ConfigError(f"--dedupe must be last or mean, got {a.dedupe!r}")
    parse_scale(a.rating_scale)  # the flag's own message
    return validate_config(DataPolicy(a.rating_scale, a.dedupe, "drop" if a.drop_unknown_movies else "error"),
                           "data policy")


# --------------------------------------------------------------------------- locating rows


def _n_lines(path: Path) -> int:
    n = 0
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            n += chunk.count(b"\n")
    return n


def line_of(path: Path, rows, header: bool = True) -> list[int]:
    """The file line of each frame row in ``rows`` (pandas skips blank lines; a quoted field may
    span lines): read again, only when there is something to report."""
    want = sorted(set(int(r) for r in rows))
    out: dict[int, int] = {}
    if path.suffix == ".dat":
        n = -1
        with open(path, encoding="latin-1") as fh:
            for line_no, line in enumerate(fh, 1):
                if line.strip():
                    n += 1
                    if n in want:
                        out[n] = line_no
                        if len(out) == len(want):
                            break
    else:
        with open(path, newline="", encoding="utf-8", errors="replace") as fh:
            reader = csv.reader(fh)
            if header:
                next(reader, None)
            n = -1
            for row in reader:
                if row:
                    n += 1
                    if n in want:
                        out[n] = reader.line_num
                        if len(out) == len(want):
                            break
    return [out.get(int(r), int(r) + 1 + header) for r in rows]


def _report(path: Path, mask: np.ndarray, what) -> DataError:
    """One line: the first row where ``mask`` holds, described by ``what(i)``, and how many more."""
    idx = np.flatnonzero(mask)
    first = int(idx[0])
    more = f" ({len(idx) - 1:,} more such row{'s' if len(idx) > 2 else ''})" if len(idx) > 1 else ""
    return DataError(f"{path} line {line_of(path, [first])[0]}: {what(first)}{more}")


def _on_grid(r: np.ndarray, low: float, step: float) -> np.ndarray:
    q = (r - low) / step
    return np.abs(q - np.round(q)) <= 1e-6


def check_file_end(path: Path) -> None:
    """A last line without a newline is a file cut mid-record (a cut at a line end cannot be
    told from a shorter file: only the registered data's checksums catch that)."""
    if not _ends_with_newline(path):
        raise DataError(f"{path} line {_n_lines(path) + 1}: the file ends mid-record (no newline after the last "
                        "line): cut short? If it is complete, end it with a newline")


# --------------------------------------------------------------------------- the checks

def check_ratings(df: pd.DataFrame, path: Path, policy: DataPolicy | None = None,
                  movie_ids: np.ndarray | None = None, movies_path: Path | None = None) -> pd.DataFrame:
    """``df`` (parsed from ``path``) checked; duplicates / unknown movies handled as ``policy`` says.
    Returns ``df`` itself when nothing is changed."""
    policy = validate_config(policy or DataPolicy(), "data policy")
    path = Path(path)
    check_file_end(path)
    u, i = df[COL_USER].to_numpy(), df[COL_ITEM].to_numpy()
    r, t = df[COL_RATING].to_numpy(np.float64), df[COL_TIMESTAMP].to_numpy()
    for name, ids in ((COL_USER, u), (COL_ITEM, i)):
        if (ids < 0).any():
            raise _report(path, ids < 0, lambda j, n=name, v=ids: f"{n} {v[j]} is negative (ids are whole numbers ≥ 0)")
    if not np.isfinite(r).all():
        raise _report(path, ~np.isfinite(r), lambda j: f"rating {float(r[j])} is not a finite number")
    low, high, step = parse_scale(policy.rating_scale)
    off = (r < low) | (r > high)
    if step is not None:
        off |= ~_on_grid(r, low, step)
    if off.any():
        scale = f"{low:g} to {high:g}" + (f" in steps of {step:g}" if step is not None else "")
        raise _report(path, off, lambda j: f"rating {r[j]:g} is off the declared scale {scale} "
                                           "(declare yours with --rating-scale LOW:HIGH[:STEP])")
    now = int(time.time()) + _FUTURE_SLACK_S
    bad_t = (t < 0) | (t > now)
    if bad_t.any():
        def when(j):
            return (f"timestamp {t[j]} is before 1970" if t[j] < 0 else
                    f"timestamp {t[j]} is in the future (seconds since 1970; now is about {now - _FUTURE_SLACK_S})")
        raise _report(path, bad_t, when)
    df = _duplicates(df, path, policy.dedupe)
    if movie_ids is not None:
        df = _unknown_movies(df, path, movie_ids, movies_path, policy.unknown_movies)
    return df


def _duplicates(df: pd.DataFrame, path: Path, dedupe: str) -> pd.DataFrame:
    dup = df.duplicated([COL_USER, COL_ITEM], keep="first").to_numpy()
    if not dup.any():
        return df
    n_pairs = int(df.loc[dup, [COL_USER, COL_ITEM]].drop_duplicates().shape[0])
    if dedupe == "error":
        j = int(np.flatnonzero(dup)[0])
        uj, ij = df[COL_USER].iat[j], df[COL_ITEM].iat[j]
        same = np.flatnonzero((df[COL_USER].to_numpy() == uj) & (df[COL_ITEM].to_numpy() == ij))
        first, again = line_of(path, [same[0], j])
        raise DataError(f"{path} line {again}: user {uj} rated movie {ij} again (first at line {first}; "
                        f"{n_pairs:,} pair{'s' if n_pairs > 1 else ''} rated more than once): "
                        "pass --dedupe last or --dedupe mean to keep one rating per pair")
    if dedupe == "last":
        out = df.drop_duplicates([COL_USER, COL_ITEM], keep="last")
    else:
        g = df.groupby([COL_USER, COL_ITEM], sort=False)
        out = g.agg({COL_RATING: "mean", COL_TIMESTAMP: "max"}).reset_index()[list(df.columns)]
    log.warning("%s: %d duplicated rows of %d (user, movie) pairs merged (--dedupe %s)",
                path, len(df) - len(out), n_pairs, dedupe)
    return out.reset_index(drop=True)


def _unknown_movies(df: pd.DataFrame, path: Path, movie_ids: np.ndarray, movies_path, policy: str) -> pd.DataFrame:
    items = df[COL_ITEM].to_numpy()
    unknown = ~np.isin(items, movie_ids)
    if not unknown.any():
        return df
    n_movies = len(np.unique(items[unknown]))
    where = movies_path or "movies.csv"
    if policy == "error" or unknown.all():
        count = f"{int(unknown.sum()):,} rating{'s' if unknown.sum() > 1 else ''} of {n_movies:,} unknown movie" + \
            ("s" if n_movies > 1 else "")
        hint = "pass --drop-unknown-movies to drop them" if not unknown.all() else "is it the right movies file?"
        raise _report(path, unknown, lambda j: f"movie {items[j]} is not in {where} ({count}): {hint}")
    log.warning("%s: dropped %d ratings of %d movies not in %s (--drop-unknown-movies)",
                path, int(unknown.sum()), n_movies, where)
    return df.loc[~unknown].reset_index(drop=True)


def check_movies(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Movie ids ≥ 0 and listed once; the file ends with a newline."""
    path = Path(path)
    check_file_end(path)
    ids = df[COL_ITEM].to_numpy()
    if (ids < 0).any():
        raise _report(path, ids < 0, lambda j: f"{COL_ITEM} {ids[j]} is negative (ids are whole numbers ≥ 0)")
    dup = df.duplicated(COL_ITEM, keep="first").to_numpy()
    if dup.any():
        j = int(np.flatnonzero(dup)[0])
        first, again = line_of(path, [int(np.flatnonzero(ids == ids[j])[0]), j], header=path.suffix != ".dat")
        n = int(dup.sum())
        raise DataError(f"{path} line {again}: {COL_ITEM} {ids[j]} is listed again (first at line {first}; "
                        f"{n:,} repeated id{'s' if n > 1 else ''}): each movie must be listed once")
    return df
