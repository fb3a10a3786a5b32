"""The recommendation service's logic, independent of HTTP (so it is unit-testable).

Built at start-up from the data directory and, when given, an artifacts directory
(:mod:`.artifacts`; ``make artifacts``): each model in ``config.models`` is loaded from its
artifact when the manifest's data checksums match the data served and the artifact passes
:mod:`.bundle`'s checks (contained, size and SHA-256 as listed, arrays fit for the data), and
fitted on all ratings otherwise — one WARNING says why, and ``/health`` shows the source. With
``require_artifacts`` any such problem is an :class:`~.bundle.ArtifactError` instead. Nothing
pickled is loaded, nothing outside the folder is read.

Answers are lookups where that is cheap: every known user's top-N per loaded model, and every
rated movie's top-N rating-cosine neighbours, are arrays in memory; only prompt search (TF-IDF
or an encoder) and the fuzzy title match do work per request.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from rapidfuzz import fuzz

from ..config import param, validate_config
from ..constants import COL_ITEM, COL_RATING, COL_TITLE, COL_USER
from ..errors import NotFoundError, RecutilsError
from . import artifacts as art
from .bundle import ArtifactError, Bundle, check_embeddings, check_top

log = logging.getLogger("recutils.serving")

MODES = ("auto", "title", "prompt")
SEARCH_METHODS = ("tfidf", "dense", "fusion")
#: the models served by default: the best ranking model on validation (EASE on rating-weighted
#: interactions, README "Results") and the recsys app's PyTorch model
DEFAULT_MODELS = ("ease_r", "torch_cf")
POSTER_BASE = "https://image.tmdb.org/t/p/w185"


def _is_model(name) -> bool:
    from ..models import available

    return name in available()


def _are_models(names) -> bool:
    from ..models import available

    ok = set(available())
    return isinstance(names, (list, tuple)) and all(isinstance(n, str) and n in ok for n in names)


@dataclass
class ServiceConfig:
    #: the models loaded at start-up (python -m recutils.models list); a request picks one with ?model=
    models: list[str] = param(default_factory=lambda: list(DEFAULT_MODELS), min_len=1, check=_are_models,
                              expect="a list of registered models")
    #: the model of a request without ?model= (None: the first of ``models``); loaded too
    model: str | None = param(None, check=_is_model, expect="a registered model")
    #: "tfidf", "dense" or "fusion" (tfidf + dense, reciprocal-rank fusion)
    search: str = param("tfidf", choices=SEARCH_METHODS)
    dense_model: str = param("sentence-transformers/all-MiniLM-L6-v2", check=lambda v: bool(v.strip()),
                             expect="a model name")
    max_k: int = param(100, ge=1, le=art.TOP_N)
    #: in ``auto`` mode a query is taken as a title when its best fuzzy title match has a
    #: full-string similarity (rapidfuzz ``ratio``) at least this high
    title_threshold: float = param(85.0, ge=0, le=100)
    #: support shrinkage of the item-to-item cosine behind "similar to this title"
    similar_shrinkage: float = param(20.0, gt=0)
    #: threads of one fuzzy title lookup (the one heavy step of a title query; -1: every core)
    title_workers: int = param(-1, check=lambda v: v == -1 or v >= 1, expect="-1 or a whole number ≥ 1")
    #: the folder written by ``make artifacts`` (None: fit everything at start-up)
    artifacts: str | None = None
    #: every model and index must load from ``artifacts``: any problem stops start-up (ArtifactError)
    require_artifacts: bool = False

    @property
    def default_model(self) -> str:
        return self.model or self.models[0]

    @property
    def loaded_models(self) -> list[str]:
        return list(dict.fromkeys([*self.models, *([self.model] if self.model else [])]))


@dataclass
class ServedModel:
    """One model as the service holds it: each user's top-N, where it came from, its study metrics."""

    name: str
    top: art.TopN
    source: str
    metrics: dict | None = None
    config: dict = field(default_factory=dict)
    created_at: str | None = None

    def summary(self) -> dict:
        m = self.metrics or {}
        return {"source": self.source, "created_at": self.created_at,
                "study_metrics": {"P@25": m.get("precision"), "R@25": m.get("recall"), "NDCG@25": m.get("ndcg"),
                                  "RMSE": m.get("rmse"), "MAE": m.get("mae")} if m else None,
                "config": self.config}


class RecService:
    """User recommendations and title-or-prompt search over MovieLens + TMDB."""

    def __init__(self, config: ServiceConfig | None = None, data_dir=None, ratings: pd.DataFrame | None = None,
                 movies: pd.DataFrame | None = None, policy=None):
        from ..datasets import load_ratings, movie_table
        from ..search import TitleIndex
        from ..splits import make_split

        self.config = validate_config(config or ServiceConfig(), "service config")
        t0 = time.perf_counter()
        ratings = load_ratings(data_dir, policy=policy) if ratings is None else ratings
        self.movies = (movie_table(data_dir) if movies is None else movies).reset_index(drop=True)
        self.split = make_split("all", ratings, ratings.iloc[:0])
        self.checksums = art.data_checksums(ratings, self.movies)
        self.artifacts_dir = Path(self.config.artifacts) if self.config.artifacts else None
        self._catalogue = self.movies[COL_ITEM].to_numpy(np.int64)
        self.bundle = self._bundle()
        self.manifest = self.bundle.manifest if self.bundle else None
        self.models: dict[str, ServedModel] = {}
        for name in self.config.loaded_models:
            self.models[name] = self._load_model(name)
        self._user_row = {int(u): i for i, u in enumerate(self.split.users)}
        counts = ratings[COL_ITEM].value_counts()
        self.titles = TitleIndex.from_movies(self.movies, popularity=self.movies[COL_ITEM].map(counts).fillna(0).to_numpy())
        self.titles.workers = self.config.title_workers
        self._clean_title = dict(zip(self.movies[COL_ITEM].astype(int), self.movies["clean_title"].astype(str)))
        self._title_of = dict(zip(self.movies[COL_ITEM].astype(int), self.movies[COL_TITLE].astype(str)))
        posters = self.movies["poster_path"] if "poster_path" in self.movies else pd.Series([None] * len(self.movies))
        self._poster_of = {int(m): (POSTER_BASE + p if isinstance(p, str) and p.startswith("/") else None)
                           for m, p in zip(self.movies[COL_ITEM], posters)}
        self._history = self._rated(ratings)
        self.similar, self.similar_source = self._similar()
        self._similar_row = {int(m): i for i, m in enumerate(self.split.items)}
        self.searcher, self.search_source = self._build_searcher(data_dir)
        self.startup_seconds = time.perf_counter() - t0
        log.info("service ready in %.1f s: models %s (default %s), search %s", self.startup_seconds,
                 ", ".join(f"{n} [{m.source}]" for n, m in self.models.items()), self.config.default_model,
                 self.searcher.name)

    # --- start-up ----------------------------------------------------------------------
    def _problem(self, msg: str, then: str) -> None:
        """An unusable artifact: one WARNING and ``then`` (a fit), or, when required, an error."""
        if self.config.require_artifacts:
            raise ArtifactError(f"{msg} (--require-artifacts)")
        log.warning("%s: %s instead", msg, then)

    def _bundle(self) -> Bundle | None:
        d = self.artifacts_dir
        if d is None:
            if self.config.require_artifacts:
                raise ArtifactError("--require-artifacts needs an --artifacts folder")
            return None
        try:
            b = Bundle.open(d)
        except ArtifactError as exc:
            self._problem(str(exc), "fitting everything at start-up")
            return None
        if b is None:
            if self.config.require_artifacts:
                raise ArtifactError(f"no artifacts at {d} (`python -m recutils.serving artifacts --out {d}` writes "
                                    "them) (--require-artifacts)")
            log.info("no artifacts at %s (make artifacts writes them)", d)
            return None
        why = art.mismatch(b.manifest, self.checksums)
        if why:
            self._problem(f"artifacts in {d} do not match the data served ({why})",
                          "fitting at start-up (`make artifacts` rewrites them)")
            return None
        log.info("artifacts in %s (created %s) match the data", d, b.manifest.get("created_at"))
        return b

    def _check_top(self, where, z: dict, rows, row_name: str = "user", min_cols: int | None = None) -> art.TopN:
        check_top(where, z["users"], z["items"], z["scores"], rows, self._catalogue,
                  self.config.max_k if min_cols is None else min_cols, row_name)
        return art.TopN(z["users"].astype(np.int64), z["items"].astype(np.int64), z["scores"])

    def _from_bundle(self, name: str, entry: dict) -> tuple[art.TopN, str]:
        """The model's top-N table from its verified artifact: ``topn``, else torch_cf's weights."""
        files = entry["files"]
        if "topn" in files:
            try:
                z = self.bundle.arrays(files["topn"], ("users", "items", "scores"))
                return self._check_top(self.bundle.root / files["topn"], z, self.split.users), files["topn"]
            except ArtifactError as exc:
                if "weights" not in files:
                    raise
                self._problem(f"{name}: {exc}", "trying its weights")
        if "weights" in files and "config" in files:
            from ..models import get_model_class

            w, c = self.bundle.path(files["weights"]), self.bundle.path(files["config"])
            if w.suffix != ".safetensors" or w.parent != c.parent or c.name != "config.json":
                raise ArtifactError(f"{self.bundle.root / files['weights']}: not a saved model folder's weights")
            try:
                model = get_model_class(name).load(w.parent)
                top = art.top_n(model)
            except Exception as exc:  # an altered file: torch / safetensors / json fail in many ways
                raise ArtifactError(f"{self.bundle.root / files['weights']}: cannot load it "
                                    f"({type(exc).__name__}: {' '.join(str(exc).split())[:160]})") from None
            where = self.bundle.root / files["weights"]
            self._check_top(where, {"users": top.users, "items": top.items, "scores": top.scores}, self.split.users)
            return top, files["weights"]
        raise ArtifactError(f"{name}: {art.MANIFEST} names no topn or weights file for it")

    def _load_model(self, name: str) -> ServedModel:
        entry = (self.manifest or {}).get("models", {}).get(name)
        t0 = time.perf_counter()
        if entry:
            try:
                top, rel = self._from_bundle(name, entry)
                log.info("%s: loaded %s (%.2f s)", name, self.bundle.root / rel, time.perf_counter() - t0)
                return ServedModel(name, top, f"artifact {rel}", entry.get("metrics"), entry.get("config") or {},
                                   self.manifest.get("created_at"))
            except ArtifactError as exc:
                self._problem(f"{name}: {exc}", "fitting it on all ratings")
        elif self.bundle is not None and self.config.require_artifacts:
            raise ArtifactError(f"{name}: not in the artifacts at {self.artifacts_dir} (--require-artifacts)")
        else:
            where = self.artifacts_dir if self.artifacts_dir else "(no --artifacts folder)"
            log.warning("%s: no usable artifact in %s: fitting it on all ratings now (`make artifacts` saves this)",
                        name, where)
        model = art.build_model(name, self.movies).fit(self.split)
        top = art.top_n(model)
        log.info("%s: fitted and ranked every user in %.1f s", name, time.perf_counter() - t0)
        return ServedModel(name, top, "fitted at start-up (no study metrics: `make artifacts` measures them)",
                           None, model.config_dict())

    def _rated(self, ratings: pd.DataFrame) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Each user's ratings, highest first (ties: most recent first)."""
        cols = [COL_USER, COL_ITEM, COL_RATING] + (["timestamp"] if "timestamp" in ratings else [])
        r = ratings[cols]
        keys = [COL_USER, COL_RATING] + (["timestamp"] if "timestamp" in r else [])
        r = r.sort_values(keys, ascending=[True] + [False] * (len(keys) - 1), kind="stable")
        u = r[COL_USER].to_numpy()
        starts = np.flatnonzero(np.r_[True, u[1:] != u[:-1]])
        ends = np.r_[starts[1:], len(u)]
        items, vals = r[COL_ITEM].to_numpy(np.int64), r[COL_RATING].to_numpy(np.float64)
        return {int(u[s]): (items[s:e], vals[s:e]) for s, e in zip(starts, ends)}

    def _index(self, what: str, entry, load, then: str):
        """``load(entry)`` for one search index in the bundle; a problem: a WARNING and None."""
        if not entry:
            if self.bundle is not None and self.config.require_artifacts:
                raise ArtifactError(f"{what}: not in the artifacts at {self.artifacts_dir} (--require-artifacts)")
            return None
        try:
            return load(entry)
        except ArtifactError as exc:
            self._problem(f"{what}: {exc}", then)
            return None

    def _similar(self) -> tuple[art.TopN | None, str]:
        """Every rated movie's neighbours from the artifact; without one, each request computes
        its movie's column (a few ms) instead of start-up computing all 9.7k (seconds)."""
        def load(sim):
            if sim["shrinkage"] != self.config.similar_shrinkage:
                raise ArtifactError(f"{self.bundle.root / sim['file']}: made with shrinkage {sim['shrinkage']}, "
                                    f"this service uses {self.config.similar_shrinkage}")
            z = self.bundle.arrays(sim["file"], ("users", "items", "scores"))
            cols = min(self.config.max_k, max(self.split.n_items - 1, 1))
            return self._check_top(self.bundle.root / sim["file"], z, self.split.items, "movie", cols)

        sim = (self.manifest or {}).get("search", {}).get("similar")
        top = self._index("similar movies", sim, load, "computing each movie's neighbours per request")
        if top is not None:
            return top, f"artifact {sim['file']}"
        from ..similarity import unit_columns

        self._Xn = unit_columns(self.split.train_ratings)
        self._XnT = self._Xn.T.tocsr()
        self._B = self.split.train_binary.tocsc()
        self._BT = self._B.T.tocsr()
        return None, "one sparse column product per request (no artifact)"

    def _build_searcher(self, data_dir):
        from ..search import DenseConfig, DenseSearch, FusionSearch, TfidfSearch

        kind = self.config.search
        if kind not in SEARCH_METHODS:
            raise RecutilsError(f"unknown search method {kind!r}; choose tfidf, dense or fusion")
        search = (self.manifest or {}).get("search", {})
        sources = []
        tfidf = dense = None
        if kind in ("tfidf", "fusion"):
            entry = search.get("tfidf")
            tfidf = self._index("TF-IDF index", entry, lambda e: art.load_tfidf(self.bundle, e["dir"], self.movies),
                                "building it at start-up")
            if tfidf is not None:
                sources.append(f"tfidf: artifact {entry['dir']}")
            else:
                tfidf = TfidfSearch.from_movies(self.movies)
                tfidf.doc_matrix = art.fast_docs(tfidf.doc_matrix)
                sources.append("tfidf: built at start-up")
        if kind in ("dense", "fusion"):
            cfg = DenseConfig(self.config.dense_model)

            def load(d):
                if d["model_name"] != self.config.dense_model:
                    raise ArtifactError(f"{self.bundle.root / d['file']}: embeddings of {d['model_name']!r}, "
                                        f"this service uses {self.config.dense_model!r}")
                emb = self.bundle.array(d["file"])
                check_embeddings(self.bundle.root / d["file"], emb, len(self.movies))
                return DenseSearch(emb, self.movies[COL_ITEM].to_numpy(), self.movies[COL_TITLE].to_numpy(), cfg)

            entry = search.get("dense")
            dense = self._index("dense index", entry, load, "using the embedding cache")
            if dense is not None:
                sources.append(f"dense: artifact {entry['file']}")
            else:
                dense = DenseSearch.from_movies(self.movies, cfg)
                sources.append("dense: embedding cache")
            dense.search("a warm-up query", 1)  # load the encoder now, not on the first request
        searcher = FusionSearch([tfidf, dense]) if kind == "fusion" else (tfidf or dense)
        return searcher, "; ".join(sources)

    # --- helpers -----------------------------------------------------------------------
    def _k(self, k) -> int:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= self.config.max_k:
            raise RecutilsError(f"k must be a whole number from 1 to {self.config.max_k}, got {k!r}")
        return int(k)

    def _rows(self, movie_ids, scores, key: str = "score") -> list[dict]:
        t, p = self._title_of, self._poster_of
        return [
            {"rank": r + 1, COL_ITEM: int(m), COL_TITLE: t.get(int(m), ""), key: round(float(s), 6),
             "poster": p.get(int(m))}
            for r, (m, s) in enumerate(zip(movie_ids, scores))
        ]

    def _model(self, model: str | None) -> ServedModel:
        name = self.config.default_model if model is None else model
        m = self.models.get(name)
        if m is None:
            from ..models import available

            choices = ", ".join(self.models)
            if name in available():
                raise RecutilsError(f"model {name!r} is not loaded by this service; choose one of: {choices} "
                                    f"(or restart it with --models {','.join([*self.models, name])})")
            raise RecutilsError(f"unknown model {name!r}; choose one of: {choices}")
        return m

    def _user_row_of(self, user_id: int) -> int:
        row = self._user_row.get(int(user_id))
        if row is None:
            raise NotFoundError(f"unknown user {user_id}: user ids run from {self.split.users.min()} to {self.split.users.max()}")
        return row

    # --- endpoints' logic --------------------------------------------------------------
    def info(self) -> dict:
        config = {**asdict(self.config), "model": self.config.default_model,
                  "artifacts": self.artifacts_dir.name if self.artifacts_dir else None}  # no absolute paths
        return {"status": "ok", "config": config,
                "default_model": self.config.default_model,
                "models": {n: m.summary() for n, m in self.models.items()},
                "artifacts": {"dir": self.artifacts_dir.name if self.artifacts_dir else None,
                              "used": self.manifest is not None,
                              "created_at": (self.manifest or {}).get("created_at")},
                "search": {"method": self.searcher.name, "source": self.search_source,
                           "similar_source": self.similar_source},
                "n_users": int(self.split.n_users), "user_id_range": [int(self.split.users.min()), int(self.split.users.max())],
                "n_items": int(self.split.n_items), "n_movies": int(len(self.movies)),
                "startup_seconds": round(self.startup_seconds, 3)}

    def user_recommend(self, user_id: int, k: int = 10, model: str | None = None) -> dict:
        """Top-``k`` unseen movies for a known user, from the chosen model's top-N table."""
        k = self._k(k)
        m = self._model(model)
        row = self._user_row_of(user_id)
        items, scores = m.top.items[row, :k], m.top.scores[row, :k]
        keep = items >= 0
        return {COL_USER: int(user_id), "model": m.name, "items": self._rows(items[keep], scores[keep])}

    def user_history(self, user_id: int, k: int = 10) -> dict:
        """The user's highest-rated movies (ties: most recent first)."""
        k = self._k(k)
        self._user_row_of(user_id)
        items, vals = self._history.get(int(user_id), (np.zeros(0, np.int64), np.zeros(0)))
        return {COL_USER: int(user_id), "n_rated": int(len(items)), "items": self._rows(items[:k], vals[:k], COL_RATING)}

    def similar_to(self, movie_id: int, k: int = 10) -> list[dict]:
        """Movies most similar to one movie: rating cosine with support shrinkage
        (s · n_co / (n_co + shrinkage)) when it has ratings (a precomputed top-N), else content
        similarity from the prompt index."""
        row = self._similar_row.get(int(movie_id))
        if row is not None and self.similar is not None:  # a rated movie: its precomputed neighbours
            items, scores = self.similar.items[row, :k], self.similar.scores[row, :k]
            keep = items >= 0
            return self._rows(items[keep], scores[keep])
        if row is not None:
            from ..similarity import cosine_to

            sims = cosine_to(self._Xn, self._XnT, self._B, self._BT, [row], self.config.similar_shrinkage)[:, 0]
            sims[row] = 0.0
            idx = np.flatnonzero(sims > 0)
            idx = idx[np.lexsort((idx, -sims[idx]))][:k]
            return self._rows(self.split.items[idx], sims[idx])
        from ..search import corpus_texts

        rows = self.movies.index[self.movies[COL_ITEM] == movie_id]
        if not len(rows):
            raise NotFoundError(f"unknown movie {movie_id}")
        res = self.searcher.search(corpus_texts(self.movies.loc[rows])[0], k + 1)
        res = res[res[COL_ITEM] != movie_id].head(k)
        return self._rows(res[COL_ITEM], res["score"])

    def _is_title(self, query: str, clean_title: str) -> bool:
        """A query is a title when, ignoring case, punctuation, a leading article and a
        trailing year, the matched title starts with it or is close to it as a whole."""
        from ..search.titles import title_key

        q, t = title_key(query), title_key(clean_title)
        return (len(q) >= 3 and t.startswith(q)) or fuzz.ratio(q, t) >= self.config.title_threshold

    def title_or_prompt(self, q: str, k: int = 10, mode: str = "auto") -> dict:
        """A title ("star wars") gives movies similar to it; anything else is a prompt search."""
        from ..search import clean_prompt

        k = self._k(k)
        if mode not in MODES:
            raise RecutilsError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        text = clean_prompt(q)
        if mode in ("auto", "title"):
            rows, _ = self.titles.find_rows(text, k=1, min_score=60.0)
            if len(rows):
                mid = int(self.titles.movie_ids[rows[0]])
                if mode == "title" or self._is_title(text, self._clean_title.get(mid, "")):
                    return {"query": text, "mode": "title",
                            "matched": {COL_ITEM: mid, COL_TITLE: str(self.titles.titles[rows[0]]),
                                        "poster": self._poster_of.get(mid)},
                            "items": self.similar_to(mid, k)}
            elif mode == "title":
                raise NotFoundError(f"no movie title looks like {text!r}")
        ids, scores = self.searcher.search_top(text, k)
        return {"query": text, "mode": "prompt", "method": self.searcher.name, "items": self._rows(ids, scores)}
