"""Evaluation protocols. Each returns a :class:`Split`: train / test ratings plus the
index maps (raw id ↔ row / column) every model and metric shares.

Protocols (all seeded explicitly):

- :func:`study_split` – the hybrid study's protocol, reproduced exactly: per user with
  ≥ 5 ratings ``train_test_split(group, test_size=0.2, random_state=42)``; users with fewer
  ratings entirely in train. Item universe = train items.
- :func:`validation_split` – the same procedure applied to a split's *train* part, for
  tuning (test is never used to choose anything).
- :func:`global_time_split` – one cut-off time for everybody: train strictly before it, test
  from it on (the last 20 % of all ratings). Test rows of users or items first seen after the
  cut-off cannot be scored; they are counted in ``info`` and left out. No future leaks into
  training.
- :func:`per_user_last_split` – per user, the last 20 % of *their* ratings by timestamp go to
  test (timestamp ties broken by a seeded shuffle). It leaks the future: other users' later
  ratings are in training (on ml-latest-small ~40 % of its training rows are later than its
  median test time; ``info["train_after_median_test"]``). Kept because it is common.
- :func:`validation_split` follows the protocol: a random split's validation part is carved at
  random, a time split's by the same time rule applied to the training part.
- :func:`cold_item_split` – a share of items held out with all their ratings; they stay in
  the item universe (as columns with no training data) and are flagged in ``cold_items``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .constants import (
    COL_ITEM,
    COL_RATING,
    COL_TIMESTAMP,
    COL_USER,
    MIN_USER_RATINGS,
    RELEVANCE_THRESHOLD,
    SEED,
    TEST_SIZE,
)


class _Universe:
    """Index maps and training matrices shared by :class:`Split` and :class:`TrainData`
    (both carry ``name``, ``train``, ``users``, ``items`` and ``cold_items``)."""

    # --- index maps -------------------------------------------------------------
    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    @cached_property
    def user_index(self) -> pd.Index:
        return pd.Index(self.users)

    @cached_property
    def item_index(self) -> pd.Index:
        return pd.Index(self.items)

    def uidx(self, user_ids) -> np.ndarray:
        """Raw user ids → row indices (−1 for unknown users)."""
        return self.user_index.get_indexer(np.atleast_1d(user_ids))

    def iidx(self, item_ids) -> np.ndarray:
        """Raw movie ids → column indices (−1 for unknown movies)."""
        return self.item_index.get_indexer(np.atleast_1d(item_ids))

    # --- matrices ---------------------------------------------------------------
    def _csr(self, df: pd.DataFrame, values) -> sp.csr_matrix:
        m = sp.csr_matrix(
            (values, (df["uidx"].to_numpy(), df["iidx"].to_numpy())),
            shape=(self.n_users, self.n_items),
            dtype=np.float64,
        )
        m.sum_duplicates()
        return m

    @cached_property
    def train_ratings(self) -> sp.csr_matrix:
        """users × items explicit ratings of the train part (CSR)."""
        return self._csr(self.train, self.train[COL_RATING].to_numpy(np.float64))

    @cached_property
    def train_binary(self) -> sp.csr_matrix:
        """users × items 0/1 interactions of the train part (CSR)."""
        return self._csr(self.train, np.ones(len(self.train)))


@dataclass(eq=False)
class TrainData(_Universe):
    """What a model learns from: the training ratings and the index maps, and nothing else.

    Models are fitted on this type only (:meth:`recutils.models.Recommender.fit` turns a
    :class:`Split` into its :meth:`Split.without_test`), so a test or validation part cannot
    reach a model by construction. ``train`` keeps the raw columns plus ``uidx`` / ``iidx``.
    """

    name: str
    train: pd.DataFrame
    users: np.ndarray
    items: np.ndarray
    cold_items: np.ndarray
    info: dict = field(default_factory=dict)


@dataclass(eq=False)
class Split(_Universe):
    """Train / test ratings with shared index maps.

    ``users`` and ``items`` hold raw ids in index order: row ``u`` of every user×item matrix
    is user ``users[u]``, column ``i`` is movie ``items[i]``. ``train`` and ``test`` keep the
    raw columns and add ``uidx`` / ``iidx``; test rows whose user or item is outside the
    universe are dropped (they cannot be recommended). ``cold_items`` is a boolean mask of
    items with no training ratings (only the cold-item protocol has any). Models see only
    :meth:`without_test`.
    """

    name: str
    train: pd.DataFrame
    test: pd.DataFrame
    users: np.ndarray
    items: np.ndarray
    cold_items: np.ndarray = field(default=None)  # type: ignore[assignment]
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.cold_items is None:
            self.cold_items = np.zeros(len(self.items), dtype=bool)

    def relevant(self, threshold: float = RELEVANCE_THRESHOLD) -> sp.csr_matrix:
        """users × items 0/1 matrix of test ratings ≥ ``threshold`` (relevance ground truth)."""
        t = self.test[self.test[COL_RATING] >= threshold]
        return self._csr(t, np.ones(len(t)))

    def evaluable_users(self, threshold: float = RELEVANCE_THRESHOLD) -> np.ndarray:
        """Row indices of users with at least one relevant test item."""
        return np.flatnonzero(np.diff(self.relevant(threshold).indptr) > 0)

    @cached_property
    def _train_data(self) -> TrainData:
        return TrainData(self.name, self.train, self.users, self.items, self.cold_items, self.info)

    def without_test(self) -> TrainData:
        """The training part with the index maps (no test): what models are fitted on. The same
        object on every call, so parts fitted on it can be recognised (e.g. by a hybrid)."""
        return self._train_data

    def summary(self) -> dict:
        return {
            "protocol": self.name,
            "n_train": int(len(self.train)),
            "n_test": int(self.info.get("n_test_raw", len(self.test))),
            "n_test_in_universe": int(len(self.test)),
            "n_users": int(self.n_users),
            "n_items": int(self.n_items),
            "n_train_items": int((~self.cold_items).sum()),
            "n_cold_items": int(self.cold_items.sum()),
            "n_evaluable_users": int(len(self.evaluable_users())),
            **{k: v for k, v in self.info.items() if k != "n_test_raw"},
        }


def _index(df: pd.DataFrame, users: np.ndarray, items: np.ndarray) -> pd.DataFrame:
    out = df.copy()
    out["uidx"] = pd.Index(users).get_indexer(out[COL_USER])
    out["iidx"] = pd.Index(items).get_indexer(out[COL_ITEM])
    return out[(out["uidx"] >= 0) & (out["iidx"] >= 0)].reset_index(drop=True)


def make_split(name: str, train: pd.DataFrame, test: pd.DataFrame, items: np.ndarray | None = None,
               cold_items: np.ndarray | None = None, info: dict | None = None) -> Split:
    """Build a :class:`Split`: users = train users (sorted), items = train items (sorted) unless given."""
    users = np.sort(train[COL_USER].unique())
    if items is None:
        items = np.sort(train[COL_ITEM].unique())
    n_test_raw = len(test)
    tr = _index(train, users, items)
    te = _index(test, users, items)
    info = dict(info or {})
    info.setdefault("n_test_raw", int(n_test_raw))
    info.setdefault("n_test_dropped", int(n_test_raw - len(te)))
    return Split(name, tr, te, users, np.asarray(items), cold_items, info)


def _per_user_shuffle_split(ratings: pd.DataFrame, test_size: float, seed: int, min_ratings: int):
    """Exact, vectorised equivalent of, per user (in file order of their rows),
    ``sklearn.model_selection.train_test_split(group, test_size=test_size, random_state=seed)``.

    ``train_test_split`` with an int seed draws ``RandomState(seed).permutation(n)``, which
    depends only on the group size ``n``: test = the first ``ceil(test_size·n)`` positions of
    that permutation. We compute one permutation per distinct size and gather.
    """
    users = ratings[COL_USER].to_numpy()
    order = np.argsort(users, kind="stable")  # rows grouped by user, file order within
    su = users[order]
    starts = np.flatnonzero(np.r_[True, su[1:] != su[:-1]])
    sizes = np.diff(np.r_[starts, len(su)])
    perms: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    train_pos, test_pos = [], []
    for start, n in zip(starts, sizes):
        if n < min_ratings:
            train_pos.append(order[start:start + n])
            continue
        if n not in perms:
            n_test = math.ceil(test_size * n)
            p = np.random.RandomState(seed).permutation(n)
            perms[n] = (p[n_test:], p[:n_test])
        tr, te = perms[n]
        train_pos.append(order[start + tr])
        test_pos.append(order[start + te])
    # rows come back in train_test_split's (shuffled) order, user by user, like the study's
    # concatenated frames: cornac assigns indices by first appearance, so order matters for PMF.
    cat = lambda parts: np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)  # noqa: E731
    return ratings.iloc[cat(train_pos)], ratings.iloc[cat(test_pos)]


def study_split(ratings: pd.DataFrame, test_size: float = TEST_SIZE, seed: int = SEED,
                min_ratings: int = MIN_USER_RATINGS) -> Split:
    """The hybrid study's split (see module docstring). On ml-latest-small: 80,419 train /
    20,417 test ratings, 8,965 train items, 600 evaluable users."""
    train, test = _per_user_shuffle_split(ratings, test_size, seed, min_ratings)
    return make_split("study", train, test, info={"seed": seed, "test_size": test_size})


def validation_split(split: Split | TrainData, test_size: float = TEST_SIZE, seed: int = SEED + 1) -> Split:
    """Carve a validation set out of ``split.train`` by the split's own rule; ``split`` may be
    a :class:`Split` or the :class:`TrainData` a model was given.

    Random splits (the study's) use the study procedure with another seed; a global-time
    split cuts its training part at the time by which ``1 − test_size`` of it had been made;
    a per-user-last split takes each user's last ratings of the training part. The returned
    split's ``test`` is the validation part; its users and items are the parent's, so scores
    line up row for row and column for column with the parent split.
    """
    base = split.train.drop(columns=["uidx", "iidx"])
    kind = split.info.get("time")
    if kind == "global":
        inner = global_time_split(base, test_size)
        train, val, extra = inner.train, inner.test, {"cutoff": inner.info["cutoff"]}
    elif kind == "per-user":
        inner = per_user_last_split(base, test_size, seed)
        train, val, extra = inner.train, inner.test, {}
    else:
        train, val = _per_user_shuffle_split(base, test_size, seed, MIN_USER_RATINGS)
        extra = {}
    if kind in ("global", "per-user"):
        train, val = train.drop(columns=["uidx", "iidx"]), val.drop(columns=["uidx", "iidx"])
    info = {"seed": seed, "parent": split.name, **({"time": kind} if kind else {}), **extra}
    s = make_split(f"{split.name}-validation", train, val, items=split.items,
                   cold_items=split.cold_items.copy(), info=info)
    # users must line up with the parent too
    if not np.array_equal(s.users, split.users):
        s = Split(s.name, _index(train, split.users, split.items), _index(val, split.users, split.items),
                  split.users, split.items, split.cold_items.copy(), s.info)
    return s


def _tie_shuffled_order(ratings: pd.DataFrame, seed: int, by_user: bool) -> np.ndarray:
    """Row positions sorted by (user,) timestamp, equal timestamps in a seeded random order
    (file order would send the higher movieIds of a batch of same-second ratings to test)."""
    key = np.random.default_rng(seed).permutation(len(ratings))
    cols = [key, ratings[COL_TIMESTAMP].to_numpy()]
    if by_user:
        cols.append(ratings[COL_USER].to_numpy())
    return np.lexsort(cols)


def per_user_last_split(ratings: pd.DataFrame, test_size: float = TEST_SIZE, seed: int = SEED,
                        min_ratings: int = MIN_USER_RATINGS) -> Split:
    """Per user with ≥ ``min_ratings`` ratings, the last ``ceil(test_size · n)`` by timestamp to
    test (ties broken by a seeded shuffle). Leaks the future across users (module docstring);
    ``info["train_after_median_test"]`` is the share of training rows later than the median
    test timestamp."""
    r = ratings.reset_index(drop=True)
    rs = r.iloc[_tie_shuffled_order(r, seed, by_user=True)]
    rank = rs.groupby(COL_USER, sort=False).cumcount().to_numpy()
    n = rs.groupby(COL_USER, sort=False)[COL_USER].transform("size").to_numpy()
    n_test = np.ceil(test_size * n).astype(int)
    test_mask = (n >= min_ratings) & (rank >= n - n_test)
    train, test = rs[~test_mask].sort_index(), rs[test_mask].sort_index()
    later = float((train[COL_TIMESTAMP] > test[COL_TIMESTAMP].median()).mean()) if len(test) and len(train) else 0.0
    return make_split("per-user-last", train, test,
                      info={"test_size": test_size, "seed": seed, "time": "per-user",
                            "train_after_median_test": round(later, 4)})


def temporal_split(ratings: pd.DataFrame, test_size: float = TEST_SIZE, seed: int = SEED,
                   min_ratings: int = MIN_USER_RATINGS) -> Split:
    """Former name of :func:`per_user_last_split` (kept for code that imports it)."""
    return per_user_last_split(ratings, test_size, seed, min_ratings)


def global_time_split(ratings: pd.DataFrame, test_size: float = TEST_SIZE, cutoff: int | None = None) -> Split:
    """Train: every rating strictly before ``cutoff``; test: every rating at or after it.

    ``cutoff`` (a timestamp) defaults to the time by which ``1 − test_size`` of the ratings had
    been made. Users and items are those of the training part; test rows of users or items
    first seen at or after the cut-off cannot be scored by any model: ``info`` counts them
    (``n_test_new_users`` / ``n_test_rows_new_users``, ``n_test_new_items`` /
    ``n_test_rows_new_items``) and they are left out of evaluation.
    """
    from .errors import RecutilsError

    ts = ratings[COL_TIMESTAMP].to_numpy()
    if len(ts) == 0:
        raise RecutilsError("global_time_split: no ratings")
    if cutoff is None:
        if not 0 < test_size < 1:
            raise RecutilsError(f"test_size must be in (0, 1), got {test_size}")
        cutoff = int(np.sort(ts)[min(len(ts) - 1, int(math.floor((1 - test_size) * len(ts))))])
    before = ts < cutoff
    train, test = ratings[before], ratings[~before]
    if len(train) == 0 or len(test) == 0:
        raise RecutilsError(f"cut-off {cutoff} leaves an empty {'train' if len(train) == 0 else 'test'} part")
    new_user = ~test[COL_USER].isin(train[COL_USER].unique())
    new_item = ~test[COL_ITEM].isin(train[COL_ITEM].unique())
    info = {"cutoff": int(cutoff), "time": "global", "test_size": test_size,
            "n_test_new_users": int(test.loc[new_user, COL_USER].nunique()),
            "n_test_rows_new_users": int(new_user.sum()),
            "n_test_new_items": int(test.loc[new_item, COL_ITEM].nunique()),
            "n_test_rows_new_items": int(new_item.sum())}
    return make_split("global-time", train, test, info=info)


def cold_item_split(ratings: pd.DataFrame, share: float = 0.1, rng: np.random.Generator | int = SEED,
                    min_item_ratings: int = 1) -> Split:
    """Hold out a random ``share`` of items (with ≥ ``min_item_ratings`` ratings) with all their ratings.

    Cold items join the universe as extra columns (flagged in ``Split.cold_items``) so that
    content models can score them; CF models see no training data for them.
    """
    rng = np.random.default_rng(rng)
    counts = ratings[COL_ITEM].value_counts()
    eligible = np.sort(counts.index[counts >= min_item_ratings].to_numpy())
    n_cold = int(round(share * len(eligible)))
    cold = np.sort(rng.choice(eligible, size=n_cold, replace=False))
    is_cold = ratings[COL_ITEM].isin(cold).to_numpy()
    train, test = ratings[~is_cold], ratings[is_cold]
    warm_items = np.sort(train[COL_ITEM].unique())
    items = np.concatenate([warm_items, cold])
    cold_mask = np.r_[np.zeros(len(warm_items), bool), np.ones(len(cold), bool)]
    return make_split("cold-item", train, test, items=items, cold_items=cold_mask,
                      info={"share": share})


PROTOCOLS = {
    "study": study_split,
    "global-time": global_time_split,
    "per-user-last": per_user_last_split,
    "cold-item": cold_item_split,
}


#: the protocols whose split depends on a seed (random draw or tie-breaking shuffle)
SEEDED_PROTOCOLS = ("study", "per-user-last", "cold-item")


def get_protocol(name: str, ratings: pd.DataFrame, seed: int | None = None) -> Split:
    """The split of protocol ``name``; ``seed`` (None: the protocol's default, the study's 42)
    draws another split of a seeded protocol. ``global-time`` has one cut-off and no seed."""
    from .errors import RecutilsError

    if name == "temporal":
        raise RecutilsError("protocol 'temporal' was split in two: 'global-time' (one cut-off for everybody, "
                            "no future in training) or 'per-user-last' (each user's last ratings; leaks the future)")
    if name not in PROTOCOLS:
        raise RecutilsError(f"unknown protocol {name!r}; valid protocols: {', '.join(PROTOCOLS)}")
    if seed is None:
        return PROTOCOLS[name](ratings)
    if name not in SEEDED_PROTOCOLS:
        raise RecutilsError(f"protocol {name!r} has one cut-off time and no seed; seeded protocols: "
                            f"{', '.join(SEEDED_PROTOCOLS)}")
    if name == "cold-item":
        return cold_item_split(ratings, rng=int(seed))
    return PROTOCOLS[name](ratings, seed=int(seed))


def sample_users(ratings: pd.DataFrame, n_users: int, rng: np.random.Generator | int = SEED) -> pd.DataFrame:
    """The ratings of ``n_users`` users drawn without replacement (seeded); all of them when
    ``n_users`` is 0 or covers every user. Used by smoke runs to shrink the data."""
    users = np.sort(ratings[COL_USER].unique())
    if not n_users or n_users >= len(users):
        return ratings
    keep = np.random.default_rng(rng).choice(users, size=n_users, replace=False)
    return ratings[ratings[COL_USER].isin(keep)].reset_index(drop=True)
