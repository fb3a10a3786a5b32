"""Synthetic MovieLens-format data at any size: how the scale path is tested offline.

``python -m recutils.datasets synth --ratings 32M --users 200k --items 80k --seed 0 --out DIR``
writes ``DIR/ratings.csv`` and ``DIR/movies.csv`` (``--format dat``: ``ratings.dat`` /
``movies.dat`` with ``::`` like ml-1m / ml-10m) in the flat custom-data layout every loader reads
(``load_ratings(DIR)``, ``load_ratings(DIR, dataset="ml-1m")``), so splits, models and notebooks
run on it unchanged.

The shapes are those of ml-latest-small (:func:`fit_shapes` measures them; :data:`SHAPES` holds
the values it gives, and a test checks that they still agree):

* user activity and item popularity follow power laws over rank, ``count ∝ rank^-a``, with the
  exponents and a rank offset (Zipf–Mandelbrot) fitted (least squares on log–log) to ml-latest-small's sorted counts; every user
  has at least ``min_user_ratings`` (ml-latest-small: 20) where the size allows;
* each movie has a primary genre (plus sometimes a second); each user has a genre taste
  (Dirichlet), and a user's movies are drawn genre first (taste, 70 %, mixed with the genres'
  overall share), then by popularity within the genre — so personal models have something to find;
* ratings are half stars with exactly ml-latest-small's histogram: a latent score (movie
  quality + user bias + genre taste + noise) is mapped through that histogram's quantiles,
  so a rating ≥ 4 is more likely where the taste is;
* timestamps: each user rates over a span drawn from ml-latest-small's range.

Everything is vectorised (32M ratings in about a minute and ~5 GB peak on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..constants import COL_GENRES, COL_ITEM, COL_RATING, COL_TIMESTAMP, COL_TITLE, COL_USER
from ..errors import ConfigError, RecutilsError

GENRES = ("Drama", "Comedy", "Thriller", "Action", "Romance", "Adventure", "Crime", "Sci-Fi", "Horror",
          "Fantasy", "Children", "Animation", "Mystery", "Documentary", "War", "Musical", "Western", "Film-Noir")
HALF_STARS = np.arange(1, 11) / 2.0


@dataclass(frozen=True)
class Shapes:
    """What the generator copies from a real MovieLens release (see :func:`fit_shapes`)."""

    user_exponent: float  #: user activity ∝ (rank + user_offset·n_users)^-user_exponent
    user_offset: float
    item_exponent: float  #: item popularity ∝ (rank + item_offset·n_items)^-item_exponent
    item_offset: float
    min_user_ratings: int
    rating_hist: tuple[float, ...]  #: share of each half star 0.5 … 5.0
    t_min: int
    t_max: int
    genre_share: tuple[float, ...]  #: share of each of GENRES among movies' first listed genre


def _power_fit(counts: np.ndarray) -> tuple[float, float]:
    """Zipf–Mandelbrot fit ``count ∝ (rank + q·n)^-a`` of sorted counts: ``(a, q)``, least squares
    on log–log over a grid of ``q`` (a plain power law, q = 0, gives the long tail too much say:
    on ml-latest-small it would put a quarter of all ratings on the top movie)."""
    c = np.log(np.sort(np.asarray(counts, float))[::-1])
    n = len(c)
    r = np.arange(1, n + 1)
    best = None
    for q in np.r_[0.0, np.logspace(-4, 0, 41)]:
        x = np.log(r + q * n)
        slope, icpt = np.polyfit(x, c, 1)
        err = float(np.sum((c - (slope * x + icpt)) ** 2))
        if best is None or err < best[0]:
            best = (err, -slope, q)
    return round(float(best[1]), 3), round(float(best[2]), 5)


def fit_shapes(ratings: pd.DataFrame, movies: pd.DataFrame) -> Shapes:
    """The shapes of a MovieLens ratings / movies pair (rounded to 3 decimals)."""
    hist = np.array([(ratings[COL_RATING] == s).mean() for s in HALF_STARS])
    first = movies[COL_GENRES].astype(str).str.split("|").str[0]
    share = np.array([(first == g).sum() for g in GENRES], float) + 1.0  # +1: every genre possible
    ua, uq = _power_fit(ratings[COL_USER].value_counts().to_numpy())
    ia, iq = _power_fit(ratings[COL_ITEM].value_counts().to_numpy())
    return Shapes(
        user_exponent=ua, user_offset=uq, item_exponent=ia, item_offset=iq,
        min_user_ratings=int(ratings[COL_USER].value_counts().min()),
        rating_hist=tuple(round(float(h), 3) for h in hist / hist.sum()),
        t_min=int(ratings[COL_TIMESTAMP].min()),
        t_max=int(ratings[COL_TIMESTAMP].max()),
        genre_share=tuple(round(float(x), 3) for x in share / share.sum()),
    )


#: ``fit_shapes(load_ratings(), load_movies())`` on ml-latest-small (tests/test_scale_data.py checks it)
SHAPES = Shapes(
    user_exponent=2.024, user_offset=0.15849, item_exponent=2.022, item_offset=0.07943, min_user_ratings=20,
    rating_hist=(0.014, 0.028, 0.018, 0.075, 0.055, 0.199, 0.13, 0.266, 0.085, 0.131),
    t_min=828124615, t_max=1537799250,
    genre_share=(0.229, 0.286, 0.009, 0.188, 0.004, 0.067, 0.055, 0.006, 0.048, 0.004, 0.02, 0.031, 0.005, 0.04,
                 0.001, 0.002, 0.002, 0.001),
)


def _gini(counts: np.ndarray) -> float:
    x = np.sort(np.asarray(counts, float))
    n = len(x)
    return float(np.sum((2 * np.arange(1, n + 1) - n - 1) * x) / (n * x.sum())) if n and x.sum() else 0.0


def concentration(ratings: pd.DataFrame) -> dict[str, float]:
    """How concentrated activity is: the Gini coefficient of ratings per user and per movie, and
    the share of ratings on the top 1 % of movies — comparable across sizes, unlike the fitted
    exponents (the offset and the exponent trade off on small data)."""
    items = ratings[COL_ITEM].value_counts().to_numpy()
    top = max(1, len(items) // 100)
    return {"gini_users": round(_gini(ratings[COL_USER].value_counts().to_numpy()), 3),
            "gini_movies": round(_gini(items), 3),
            "top1pct_movies_share": round(float(np.sort(items)[::-1][:top].sum() / items.sum()), 3)}


def _alloc(total: int, weights: np.ndarray, floor: int, cap: int) -> np.ndarray:
    """Integers ≥ floor, ≤ cap, summing to ``total``, proportional to ``weights`` above the floor."""
    n = len(weights)
    out = np.full(n, floor, dtype=np.int64)
    rest = total - floor * n
    w = weights / weights.sum()
    for _ in range(50):
        if rest <= 0:
            break
        room = cap - out
        ww = np.where(room > 0, w, 0.0)
        if ww.sum() == 0:
            break
        add = np.minimum(np.floor(rest * ww / ww.sum()).astype(np.int64), room)
        if add.sum() == 0:  # the last few: one each to the heaviest with room
            idx = np.argsort(-ww, kind="stable")[:rest]
            idx = idx[room[idx] > 0]
            add = np.zeros(n, dtype=np.int64)
            add[idx] = 1
        out += add
        rest -= int(add.sum())
    return out


def _sorted_unique(a: np.ndarray) -> np.ndarray:
    """``np.unique`` by sorting (numpy's hash-based unique is several times slower here)."""
    a = np.sort(a)
    return a[np.r_[True, a[1:] != a[:-1]]] if len(a) else a


def generate(n_ratings: int, n_users: int, n_items: int, seed: int = 0,
             shapes: Shapes | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(ratings, movies)`` in MovieLens columns (ids from 1), exactly ``n_ratings`` distinct pairs."""
    s = shapes or SHAPES
    if n_users < 1 or n_items < 2 or n_ratings < n_users:
        raise ConfigError(f"synth: need users ≥ 1, items ≥ 2 and ratings ≥ users, got ratings={n_ratings}, "
                          f"users={n_users}, items={n_items}")
    cap = max(1, n_items // 2)
    if n_ratings > n_users * cap:
        raise ConfigError(f"synth: {n_ratings} ratings do not fit {n_users} users × {n_items} items "
                          f"(at most {n_users * cap}: each user rates at most half the movies)")
    rng = np.random.default_rng(seed)
    G = len(GENRES)

    # users: power-law activity over a random rank order
    floor = int(min(s.min_user_ratings, max(1, n_ratings // (2 * n_users))))
    ranks = rng.permutation(n_users) + 1
    counts = _alloc(n_ratings, (ranks + s.user_offset * n_users) ** -s.user_exponent, floor, cap)

    # movies: power-law popularity, a primary genre, a quality
    pop = (rng.permutation(n_items) + 1.0 + s.item_offset * n_items) ** -s.item_exponent
    genre = rng.choice(G, size=n_items, p=np.asarray(s.genre_share) / np.sum(s.genre_share))
    quality = rng.normal(0.0, 1.0, n_items)
    order = np.argsort(genre, kind="stable")  # items grouped by genre: cumulative mass per genre segment
    g_sorted = genre[order]
    mass = np.bincount(genre, weights=pop, minlength=G)
    base = np.r_[0.0, np.cumsum(np.where(mass > 0, 1.0, 0.0))][:-1]  # genre g's segment starts at base[g]
    # segment of genre g (items of g by popularity) spans (base[g], base[g] + 1]
    cum = np.concatenate([base[g] + np.cumsum(pop[order][g_sorted == g] / mass[g]) for g in range(G) if mass[g] > 0])
    genre_mass = mass / mass.sum()

    # users' taste: a Dirichlet draw mixed with the genres' overall share
    taste = rng.dirichlet(np.full(G, 0.3), size=n_users)
    mix = 0.7 * taste + 0.3 * genre_mass[None, :]
    mix_cum = np.cumsum(mix, axis=1)
    mix_cum[:, -1] = 1.0

    def draw(users: np.ndarray) -> np.ndarray:
        out = np.empty(len(users), dtype=np.int64)
        for a in range(0, len(users), 1 << 22):
            u = users[a: a + (1 << 22)]
            g = (rng.random(len(u))[:, None] > mix_cum[u]).sum(axis=1)
            g = np.minimum(g, G - 1)
            g = np.where(mass[g] > 0, g, int(np.argmax(mass)))
            pos = np.searchsorted(cum, base[g] + rng.random(len(u)) * (1 - 1e-12), side="right")
            out[a: a + len(u)] = order[np.minimum(pos, n_items - 1)]
        return out

    users = np.repeat(np.arange(n_users, dtype=np.int64), counts)
    items = draw(users)
    keys = _sorted_unique(users * n_items + items)
    for round_ in range(60):  # top up users whose draws collided (uniform after a few rounds)
        have = np.bincount(keys // n_items, minlength=n_users)
        need = counts - have
        if not need.any():
            break
        u = np.repeat(np.arange(n_users, dtype=np.int64), np.maximum(need, 0))
        it = draw(u) if round_ < 5 else rng.integers(0, n_items, len(u))
        keys = _sorted_unique(np.concatenate([keys, u * n_items + it]))
    del users, items
    u, i = keys // n_items, keys % n_items
    del keys

    # ratings: latent score → ml-latest-small's half-star histogram by quantiles
    ub = rng.normal(0.0, 0.5, n_users)
    latent = 0.6 * quality[i] + ub[u] + 4.0 * taste[u, genre[i]] + rng.normal(0.0, 1.0, len(u))
    rank = np.empty(len(u), dtype=np.int64)
    rank[np.argsort(latent, kind="stable")] = np.arange(len(u))
    del latent
    hist = np.asarray(s.rating_hist, float)
    edges = np.cumsum(hist / hist.sum())
    rating = HALF_STARS[np.minimum(np.searchsorted(edges, (rank + 0.5) / len(u), side="right"), 9)]
    del rank

    # timestamps: each user rates during a span inside the release's range
    t0, t1 = s.t_min, max(s.t_max, s.t_min + 1)
    span = np.minimum(rng.exponential(0.1 * (t1 - t0), n_users), t1 - t0)
    start = t0 + rng.random(n_users) * (t1 - t0 - span)
    ts = (start[u] + rng.random(len(u)) * span[u]).astype(np.int64)

    ratings = pd.DataFrame({COL_USER: u + 1, COL_ITEM: i + 1, COL_RATING: rating, COL_TIMESTAMP: ts})
    second = rng.integers(0, G, n_items)
    has2 = (rng.random(n_items) < 0.5) & (second != genre)
    genres = np.where(has2, np.char.add(np.char.add(np.asarray(GENRES)[genre], "|"), np.asarray(GENRES)[second]),
                      np.asarray(GENRES)[genre])
    years = 1920 + (rng.random(n_items) * 98).astype(int)
    movies = pd.DataFrame({COL_ITEM: np.arange(1, n_items + 1),
                           COL_TITLE: [f"Synthetic movie {k} ({y})" for k, y in zip(range(1, n_items + 1), years)],
                           COL_GENRES: genres})
    return ratings, movies


def write(out_dir: str | os.PathLike, ratings: pd.DataFrame, movies: pd.DataFrame, fmt: str = "csv") -> list[Path]:
    """Write ``ratings`` / ``movies`` into ``out_dir`` in a release's on-disk format (atomically).

    ``csv``: ``ratings.csv`` / ``movies.csv`` with the MovieLens header (ml-latest-small, ml-20m+);
    ``dat``: ``ratings.dat`` / ``movies.dat``, ``::``-separated, no header (ml-1m, ml-10m).
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from ..io import atomic_path

    if fmt not in ("csv", "dat"):
        raise ConfigError(f"synth: format must be csv or dat, got {fmt!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    r = ratings[[COL_USER, COL_ITEM, COL_RATING, COL_TIMESTAMP]]
    if fmt == "csv":
        table = pa.Table.from_pandas(r, preserve_index=False)
        with atomic_path(out / "ratings.csv") as tmp, open(tmp, "wb") as fh:
            fh.write(",".join(r.columns).encode() + b"\n")  # the header unquoted, as MovieLens writes it
            pacsv.write_csv(table, fh, pacsv.WriteOptions(include_header=False, quoting_style="none"))
        with atomic_path(out / "movies.csv") as tmp:
            movies.to_csv(tmp, index=False)
        return [out / "ratings.csv", out / "movies.csv"]
    # '::' by writing ':' between the values and empty columns
    empty = pa.nulls(len(r), pa.string())  # written as nothing
    table = pa.table({"u": r[COL_USER].to_numpy(), "a": empty, "i": r[COL_ITEM].to_numpy(), "b": empty,
                      "r": r[COL_RATING].to_numpy(), "c": empty, "t": r[COL_TIMESTAMP].to_numpy()})
    with atomic_path(out / "ratings.dat") as tmp:
        pacsv.write_csv(table, tmp, pacsv.WriteOptions(include_header=False, delimiter=":", quoting_style="none"))
    lines = [f"{m}::{t}::{g}\n" for m, t, g in zip(movies[COL_ITEM], movies[COL_TITLE], movies[COL_GENRES])]
    with atomic_path(out / "movies.dat") as tmp:
        Path(tmp).write_text("".join(lines), encoding="utf-8")
    written += [out / "ratings.dat", out / "movies.dat"]
    return written


_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*$")


def parse_size(text: str) -> int:
    """``"32M"`` → 32,000,000; ``"200k"`` → 200,000; ``"1500"`` → 1,500."""
    m = _SIZE_RE.match(str(text))
    if not m:
        raise ConfigError(f"synth: size {text!r} is not a number (e.g. 1500, 200k, 32M)")
    return int(round(float(m.group(1)) * {"": 1, "k": 1_000, "m": 1_000_000}[m.group(2).lower()]))


def default_shape(n_ratings: int) -> tuple[int, int]:
    """(users, items) for ``n_ratings`` in MovieLens proportions: users = ratings / 160 (ml-1m: 6k,
    ml-32m: 200k), items = 3,700 · (ratings / 1M)^0.91 (ml-1m: 3.7k, ml-32m: 87k — the item count
    is what EASE's memory grows with), enough items for every user's share, at least 10 each."""
    users = max(10, n_ratings // 160)
    items = max(10, int(3700 * (n_ratings / 1e6) ** 0.91), 2 * -(-n_ratings // users) + 2)
    return users, items


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m recutils.datasets synth",
                                 description="Write a synthetic MovieLens-format data set (see recutils.datasets.synth).")
    ap.add_argument("--ratings", required=True, help="number of ratings (1500, 200k, 32M)")
    ap.add_argument("--users", default=None, help="number of users (default: ratings/160)")
    ap.add_argument("--items", default=None, help="number of movies (default: 3,700·(ratings/1M)^0.91)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--format", choices=["csv", "dat"], default="csv",
                    help="csv: ratings.csv/movies.csv (ml-20m+); dat: '::'-separated ratings.dat/movies.dat (ml-1m, ml-10m)")
    ap.add_argument("--out", required=True, help="output folder (flat: read it with --data-dir / load_ratings(DIR))")
    a = ap.parse_args(argv)
    try:
        n = parse_size(a.ratings)
        du, di = default_shape(n)
        nu = parse_size(a.users) if a.users else du
        ni = parse_size(a.items) if a.items else di
        ratings, movies = generate(n, nu, ni, a.seed)
        paths = write(a.out, ratings, movies, a.format)
    except RecutilsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot write {a.out}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"{len(ratings):,} ratings by {ratings[COL_USER].nunique():,} users of {len(movies):,} movies "
          f"(seed {a.seed}) → {', '.join(str(p) for p in paths)}")
    return 0


__all__ = ["GENRES", "SHAPES", "Shapes", "asdict", "concentration", "default_shape", "fit_shapes", "generate", "main",
           "parse_size", "write"]
