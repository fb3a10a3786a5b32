"""Trained artifacts for the service, written once and loaded at start-up (no pickle).

``python -m recutils.serving artifacts [--out artifacts] [--models ease_r,torch_cf]`` (or
``make artifacts``; ``make reproduce`` runs it after the notebooks) writes, per model::

    <out>/manifest.json               what is here: models, configs, data checksums, metrics, created-at,
                                      the inputs it was built from (:mod:`.rebuild`: unchanged ones skip a build)
    <out>/<model>/topn.npz            each known user's top-N unseen movies (userId, movieId, score)
    <out>/torch_cf/model.safetensors  torch_cf's weights + config.json (TorchCF.save / TorchCF.load)
    <out>/ease*/Ginv.npy, diagP.npy   EASE's weights B = I − P·diag(1/diag P), exact with the ratings
    <out>/itemknn/sim.npz             ItemKNN's pruned item × item cosine (CSR arrays)
    <out>/search/tfidf/...            the TF-IDF index: vocabulary.json, idf.npy, docs.npz (CSR arrays)
    <out>/search/similar.npz          each movie's top-N rating-cosine neighbours ("similar to this title")
    <out>/search/dense_<name>.npy     movie embeddings for dense prompt search

Every model is first fitted on the study protocol's training part and evaluated on its test
part (P/R/NDCG@25; RMSE/MAE for a model that predicts ratings) — those are the numbers
``/health`` shows — then refitted on all ratings, which is what the service serves.
The manifest's ``data`` block (SHA-256 of the ratings and of the movie table as loaded) is how
the service checks that artifacts match the data it serves; a mismatch means "fit again".
Its ``files`` block lists every file with its size and SHA-256: the service verifies each one
before use (:mod:`.bundle`).

A run is atomic: everything is written into a temporary folder beside ``<out>``
(``.<out>.partial-*``), checked, and only then swapped in for the previous bundle; a failed
run leaves the previous bundle as it was (a killed one also leaves its partial folder, which
nothing reads).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..constants import COL_ITEM, COL_RATING, COL_TITLE, COL_USER, K
from ..errors import ConfigError, RecutilsError
from ..io import atomic_path, save_npy, write_json
from .bundle import FORMAT, MANIFEST, ArtifactError, Bundle, check_tfidf, check_top, file_entries

log = logging.getLogger("recutils.serving")

__all__ = ["FORMAT", "MANIFEST", "ArtifactError", "Bundle"]
#: how many movies are kept per user / per movie (the service's max_k)
TOP_N = 100
DEFAULT_DIR = "artifacts"
DENSE_MODEL = "sentence-transformers/all-MiniLM-L6-v2"  #: the encoder of the dense prompt index
SIMILAR_SHRINKAGE = 20.0  #: support shrinkage of the "similar to this title" cosine


def save_npz(path, **arrays) -> Path:
    """Arrays in one ``.npz``, atomically (numeric arrays only: loaded with ``allow_pickle=False``)."""
    with atomic_path(path, suffix=".npz") as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    return Path(path)


# --- data checksums ----------------------------------------------------------------------------
def _sha(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str(a.dtype).encode() + str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def data_checksums(ratings: pd.DataFrame, movies: pd.DataFrame) -> dict:
    """SHA-256 of the data as the service loads it: the ratings (user, movie, rating) and the
    movie table's ids and titles. Computed from the tables, so it does not depend on where the
    files live or on their line endings; milliseconds for ml-latest-small."""
    titles = "\x1f".join(map(str, movies[COL_TITLE].tolist())).encode()
    return {
        "ratings_sha256": _sha(ratings[COL_USER].to_numpy(np.int64), ratings[COL_ITEM].to_numpy(np.int64),
                               ratings[COL_RATING].to_numpy(np.float64)),
        "movies_sha256": _sha(movies[COL_ITEM].to_numpy(np.int64), np.frombuffer(titles, np.uint8)),
        "n_ratings": int(len(ratings)), "n_movies": int(len(movies)),
    }


def file_checksums(data_dir=None) -> dict:
    """SHA-256 of the registered data files the service reads (where they are found)."""
    from ..datasets import locate
    from ..datasets.integrity import sha256_remembered

    out = {}
    for rel in ("ml-latest-small/ratings.csv", "ml-latest-small/movies.csv", "tmdb/movie_data.parquet"):
        try:
            out[rel] = sha256_remembered(locate(data_dir, rel, verify=False))
        except (RecutilsError, OSError):
            continue
    return out


# --- top-N tables ------------------------------------------------------------------------------
@dataclasses.dataclass
class TopN:
    """Each user's top-N: ``users`` (U,), ``items`` (U, N) movie ids (-1: nothing more), ``scores`` (U, N)."""

    users: np.ndarray
    items: np.ndarray
    scores: np.ndarray

    def save(self, path: Path) -> Path:
        return save_npz(path, users=self.users, items=self.items, scores=self.scores)

    @classmethod
    def load(cls, path: Path) -> "TopN":
        with np.load(path, allow_pickle=False) as z:
            return cls(z["users"].astype(np.int64), z["items"].astype(np.int64), z["scores"])


def top_n(model, n: int = TOP_N, batch: int = 128) -> TopN:
    """Every training user's top-``n`` unseen movies from a fitted model (raw ids)."""
    from ..evaluation import iter_top_scores
    from ..progress import task

    sp_ = model.split_
    n = min(n, sp_.n_items)
    U = sp_.n_users
    items = np.full((U, n), -1, np.int64)
    scores = np.full((U, n), -np.inf, np.float32)
    with task("top-N lists", total=U, unit="users") as bar:
        for u, idx, val in iter_top_scores(model, k=n, batch_size=batch):
            ok = np.isfinite(val)
            items[u] = np.where(ok, sp_.items[idx], -1)
            scores[u] = np.where(ok, val, -np.inf)
            bar.update(len(u))
    return TopN(np.asarray(sp_.users, np.int64), items, scores)


def similar_items(ratings_split, shrinkage: float, n: int = TOP_N, block: int = 512) -> TopN:
    """Each rated movie's top-``n`` neighbours by rating cosine with support shrinkage
    (s · n_co / (n_co + shrinkage)), as the service's "similar to this title" — the same numbers
    as one column product per request, computed once. Rows are the split's items."""
    from ..evaluation.metrics import top_k
    from ..progress import task
    from ..similarity import cosine_to, unit_columns

    Xn = unit_columns(ratings_split.train_ratings)
    XnT = Xn.T.tocsr()
    B = ratings_split.train_binary.tocsc()
    BT = B.T.tocsr()
    n_items = ratings_split.n_items
    n = min(n, max(n_items - 1, 1))
    items = np.full((n_items, n), -1, np.int64)
    scores = np.zeros((n_items, n), np.float64)  # as the per-request product gives them
    with task("similar movies", total=n_items, unit="movies") as bar:
        for s in range(0, n_items, block):
            cols = np.arange(s, min(n_items, s + block))
            S = cosine_to(Xn, XnT, B, BT, cols, shrinkage).T  # (block, n_items)
            S[np.arange(len(cols)), cols] = 0.0
            idx = top_k(S, n)
            val = np.take_along_axis(S, idx, 1)
            ok = val > 0
            items[cols] = np.where(ok, ratings_split.items[idx], -1)
            scores[cols] = np.where(ok, val, 0.0)
            bar.update(len(cols))
    return TopN(np.asarray(ratings_split.items, np.int64), items, scores)


# --- TF-IDF index ------------------------------------------------------------------------------
def save_tfidf(searcher, directory: Path) -> Path:
    """The fitted vectorizer's vocabulary + idf and the document matrix, as JSON / npy / npz."""
    directory.mkdir(parents=True, exist_ok=True)
    vec = searcher.vectorizer
    write_json(directory / "vocabulary.json", {t: int(i) for t, i in vec.vocabulary_.items()})
    save_npy(directory / "idf.npy", np.asarray(vec.idf_, np.float64))
    m = searcher.doc_matrix.tocsr()
    save_npz(directory / "docs.npz", data=m.data, indices=m.indices, indptr=m.indptr, shape=np.asarray(m.shape),
             movie_ids=np.asarray(searcher.movie_ids, np.int64))
    write_json(directory / "config.json", dataclasses.asdict(searcher.config))
    return directory


def load_tfidf(bundle: Bundle, rel_dir: str, movies: pd.DataFrame):
    """A :class:`~recutils.search.TfidfSearch` from :func:`save_tfidf`'s folder in a verified
    bundle (no refit); every file verified and the arrays checked first (:class:`ArtifactError`)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    from ..config import validate_config
    from ..search import TfidfSearch
    from ..search.base import Searcher
    from ..search.tfidf import TfidfConfig

    where = bundle.root / rel_dir
    raw = bundle.json(f"{rel_dir}/config.json")
    try:
        config = validate_config(TfidfConfig(**raw), "TF-IDF config")
    except (TypeError, RecutilsError) as exc:
        raise ArtifactError(f"{where}/config.json: not a TF-IDF config ({' '.join(str(exc).split())[:160]})") from None
    vocab = bundle.json(f"{rel_dir}/vocabulary.json")
    idf = bundle.array(f"{rel_dir}/idf.npy")
    z = bundle.arrays(f"{rel_dir}/docs.npz", ("data", "indices", "indptr", "shape", "movie_ids"))
    check_tfidf(where, vocab, idf, z, movies[COL_ITEM].to_numpy(np.int64))
    docs = sp.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=tuple(int(v) for v in z["shape"]))
    vec = TfidfVectorizer(ngram_range=(1, config.ngram_max), min_df=config.min_df,
                          max_df=config.max_df if len(movies) > 1 else 1.0, sublinear_tf=config.sublinear_tf,
                          stop_words=config.stop_words, strip_accents="unicode", dtype=np.float32)
    vec.vocabulary_ = vocab
    vec.idf_ = idf
    s = TfidfSearch.__new__(TfidfSearch)
    Searcher.__init__(s, movies[COL_ITEM].to_numpy(), movies[COL_TITLE].to_numpy())
    s.config, s.vectorizer, s.doc_matrix = config, vec, fast_docs(docs)
    return s


def fast_docs(docs):
    """The document matrix as CSC: ``TfidfSearch.score_matrix`` multiplies by its transpose, which
    is then CSR without a conversion (from CSR, every query paid a 9.7k-row CSR→CSC copy)."""
    return sp.csc_matrix(docs)


# --- study-protocol metrics --------------------------------------------------------------------
def study_metrics(model, ratings: pd.DataFrame, k: int = K) -> dict:
    """Fit a fresh copy of ``model`` on the study protocol's training part; P/R/NDCG@k on its
    test part, and RMSE/MAE where the model predicts ratings."""
    from ..evaluation import evaluate_ranking
    from ..evaluation.evaluator import evaluate_rating
    from ..splits import get_protocol

    split = get_protocol("study", ratings)
    t0 = time.perf_counter()
    model.fit(split.without_test())
    fit_s = time.perf_counter() - t0
    res = evaluate_ranking(model, split, k)
    out = {"protocol": "study", "k": k, "precision": res.metrics["precision"], "recall": res.metrics["recall"],
           "ndcg": res.metrics["ndcg"], "n_users": res.metrics["n_users"], "fit_seconds": round(fit_s, 2)}
    if callable(getattr(model, "predict", None)):
        out.update(evaluate_rating(model, split))
    return {k_: (round(v, 6) if isinstance(v, float) else v) for k_, v in out.items()}


# --- writing -----------------------------------------------------------------------------------
def parse_models(text: str) -> list[str]:
    """``"ease_r,torch_cf"`` → checked registered names (an unknown one lists the valid ones)."""
    from ..models import get_model_class

    names = [t.strip() for t in str(text).split(",") if t.strip()]
    if not names:
        raise ConfigError("--models needs at least one registered model name")
    for n in names:
        get_model_class(n)
    return list(dict.fromkeys(names))


def build_model(name: str, movies: pd.DataFrame, params: dict | None = None):
    from ..models import create, get_model_class

    table = movies if get_model_class(name).needs_item_table else None
    return create(name, item_table=table, **(params or {}))


def write_artifacts(out_dir, models=("ease_r", "torch_cf"), data_dir=None, params: dict | None = None,
                    search=("tfidf",), dense_model: str = DENSE_MODEL, similar_shrinkage: float = SIMILAR_SHRINKAGE,
                    with_metrics: bool = True, ratings=None, movies=None, policy=None, inputs: dict | None = None) -> dict:
    """Train ``models`` (study metrics, then a refit on all ratings) and write every artifact and
    the manifest into ``out_dir``, atomically; returns the manifest. ``params``: model name →
    config overrides (all checked before anything is trained). ``inputs``: what determined the
    bundle, recorded as the manifest's ``inputs`` (:mod:`.rebuild`). Each stage is a progress
    task (:mod:`.stages`)."""
    from ..datasets import load_ratings, movie_table

    out = Path(out_dir)
    _check_out(out)
    ratings = load_ratings(data_dir, policy=policy) if ratings is None else ratings
    movies = (movie_table(data_dir) if movies is None else movies).reset_index(drop=True)
    params = params or {}
    for name in models:  # every configuration checked before the first one trains
        build_model(name, movies, params.get(name))
    tmp = _partial_dir(out)
    try:
        manifest = _write_bundle(tmp, models, ratings, movies, params, data_dir, search, dense_model,
                                 similar_shrinkage, with_metrics, inputs)
        _swap_in(tmp, out)
    except OSError as exc:
        raise ArtifactError(f"cannot write the artifacts folder {out}: {exc.strerror or exc}") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return manifest


def _check_out(out: Path) -> None:
    """``--out`` must be new, empty or a previous bundle: it is replaced as a whole."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise ArtifactError(f"--out {out} exists and is not a folder")
    if out.is_dir() and not (out / MANIFEST).is_file() and any(out.iterdir()):
        raise ArtifactError(f"refusing to replace {out}: it is not empty and holds no {MANIFEST} "
                            "(not an artifacts folder); choose a new or empty folder")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ArtifactError(f"cannot create the artifacts folder {out}: {exc.strerror or exc}") from None


def _partial_dir(out: Path) -> Path:
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    except OSError as exc:
        raise ArtifactError(f"cannot write the artifacts folder {out}: {exc.strerror or exc}") from None
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)
    return tmp


def _swap_in(tmp: Path, out: Path) -> None:
    """``tmp`` becomes ``out``; a previous bundle is moved aside first and removed after."""
    if not out.exists():
        os.rename(tmp, out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    os.rename(out, old / "bundle")
    try:
        os.rename(tmp, out)
    except OSError:
        os.rename(old / "bundle", out)
        shutil.rmtree(old, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _write_bundle(out: Path, models, ratings, movies, params, data_dir, search, dense_model, similar_shrinkage,
                  with_metrics, inputs) -> dict:
    from ..datasets.integrity import sha256_file
    from ..splits import make_split
    from .stages import Stages

    everything = make_split("all", ratings, ratings.iloc[:0])
    manifest = {"format": FORMAT, "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "data": {**data_checksums(ratings, movies), "files": file_checksums(data_dir)},
                "top_n": TOP_N, "models": {}, "search": {}, **({"inputs": inputs} if inputs is not None else {})}
    dense, tfidf = ("dense" in search or "fusion" in search), ("tfidf" in search or "fusion" in search)
    stage = Stages(len(models) * (1 + bool(with_metrics)) + 2 + tfidf + dense)
    for name in models:
        t0 = time.perf_counter()
        metrics = None
        if with_metrics:
            with stage(f"{name}: study metrics"):
                metrics = study_metrics(build_model(name, movies, params.get(name)), ratings)
        log.info("artifacts: %s study metrics %s", name, metrics)
        with stage(f"{name}: fit on all ratings, top-N, save"):
            model = build_model(name, movies, params.get(name)).fit(everything)
            d = out / name
            d.mkdir(parents=True, exist_ok=True)
            top_n(model).save(d / "topn.npz")
            files = {"topn": f"{name}/topn.npz"}
            if callable(getattr(model, "save", None)):  # torch_cf: safetensors + config.json
                model.save(d)
                files["weights"] = f"{name}/model.safetensors"
                files["config"] = f"{name}/config.json"
            elif getattr(model, "Ginv_", None) is not None:  # EASE: B = I − P·diag(1/diag P) from these and X
                for attr, fname in (("Ginv_", "Ginv.npy"), ("diagP_", "diagP.npy")):
                    save_npy(d / fname, np.asarray(getattr(model, attr), np.float64))
                    files[attr.rstrip("_")] = f"{name}/{fname}"
            elif sp.issparse(getattr(model, "sim_", None)):  # ItemKNN: the pruned item × item cosine
                m = model.sim_.tocsr()
                save_npz(d / "sim.npz", data=m.data, indices=m.indices, indptr=m.indptr, shape=np.asarray(m.shape))
                files["sim"] = f"{name}/sim.npz"
        manifest["models"][name] = {"config": model.config_dict(), "metrics": metrics, "files": files,
                                    "n_users": int(everything.n_users), "n_items": int(everything.n_items),
                                    "seconds": round(time.perf_counter() - t0, 2)}
        log.info("artifacts: %s written in %.1f s", name, time.perf_counter() - t0)
    sd = out / "search"
    sd.mkdir(parents=True, exist_ok=True)
    with stage("similar movies"):
        similar_items(everything, similar_shrinkage).save(sd / "similar.npz")
    manifest["search"]["similar"] = {"file": "search/similar.npz", "shrinkage": similar_shrinkage}
    if tfidf:
        from ..search import TfidfSearch

        with stage("TF-IDF prompt index"):
            save_tfidf(TfidfSearch.from_movies(movies), sd / "tfidf")
        manifest["search"]["tfidf"] = {"dir": "search/tfidf"}
    if dense:
        from ..search import DenseConfig, DenseSearch

        with stage(f"dense prompt index ({dense_model.rsplit('/', 1)[-1]})"):
            ds = DenseSearch.from_movies(movies, DenseConfig(dense_model))
        fname = "dense_" + ds.name.split(":", 1)[1] + ".npy"
        save_npy(sd / fname, ds.doc_embeddings)
        manifest["search"]["dense"] = {"file": f"search/{fname}", "model_name": dense_model}
    with stage("checksums, manifest, read-back check"):
        manifest["files"] = file_entries(out, sha256_file)
        write_json(out / MANIFEST, manifest)  # written last: it names only files that exist, as they are
        _verify_written(out, manifest, ratings, movies)
    return manifest


def _verify_written(out: Path, manifest: dict, ratings, movies) -> None:
    """The new bundle read back as the service reads it: manifest, every top-N table, the indexes."""
    from ..splits import make_split

    b = Bundle.open(out)
    everything = make_split("all", ratings, ratings.iloc[:0])
    catalogue = movies[COL_ITEM].to_numpy(np.int64)
    for entry in b.manifest["models"].values():
        rel = entry["files"]["topn"]
        z = b.arrays(rel, ("users", "items", "scores"))
        check_top(out / rel, z["users"], z["items"], z["scores"], everything.users, catalogue,
                  min(TOP_N, everything.n_items))
    sim = b.manifest["search"]["similar"]
    z = b.arrays(sim["file"], ("users", "items", "scores"))
    check_top(out / sim["file"], z["users"], z["items"], z["scores"], everything.items, catalogue, 1, "movie")
    if "tfidf" in b.manifest["search"]:
        load_tfidf(b, b.manifest["search"]["tfidf"]["dir"], movies)
    if manifest["files"] != b.manifest["files"]:
        raise ArtifactError(f"{out / MANIFEST} does not read back as written")


def mismatch(manifest: dict, checksums: dict) -> str | None:
    """Why the artifacts do not match the served data (``None`` when they do)."""
    have = manifest.get("data", {})
    for key in ("ratings_sha256", "movies_sha256"):
        if have.get(key) != checksums[key]:
            what = key.split("_")[0]
            return (f"the {what} differ from those the artifacts were trained on "
                    f"({have.get('n_' + what)} vs {checksums['n_' + what]} rows)")
    return None
