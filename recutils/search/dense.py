"""Dense (semantic) prompt search: sentence embeddings + cosine top-k."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal, Sequence

import numpy as np
import pandas as pd

from ..config import param, validate_config
from ..constants import COL_ITEM, COL_TITLE
from ..datasets import TextBuilder
from ..embeddings import cached_encode, canonical_name, encode, load_encoder
from ..embeddings.onnx import encoder_backend
from ..errors import ConfigError
from ..torch_threads import torch_threads
from .base import SEARCH_TEXT, Searcher, corpus_texts


@dataclass(frozen=True)
class DenseConfig:
    """Which sentence-transformer embeds documents and prompts, and how."""

    model_name: str = "sentence-transformers/all-MiniLM-L6-v2"
    batch_size: int = param(64, ge=1)
    #: torch threads for one prompt (:meth:`DenseSearch.search`); ``None`` leaves torch's setting.
    #: One short prompt is too little work to share: a second thread gains little on an idle
    #: machine and, on a busy one, makes every operator wait for a descheduled thread
    #: (notebook 03 measures both). An onnx encoder follows the same count.
    query_threads: int | None = param(1, ge=1)
    #: encoder of the documents and the prompts: the sentence-transformer (``"torch"``) or its
    #: ONNX export run by ONNX Runtime (``"onnx-int8"``: dynamic int8, faster, cosine ≈ 0.99 to
    #: fp32; ``"onnx-fp32"``: equal to torch to float rounding) — :mod:`recutils.embeddings.onnx`
    backend: Literal["torch", "onnx-int8", "onnx-fp32"] = "torch"

    def __post_init__(self):
        validate_config(self, "dense search config")


class DenseSearch(Searcher):
    """Cosine similarity between the prompt's and each movie's (L2-normalised) embedding.

    ``doc_embeddings`` are ``(n_docs, d)``; ``model`` encodes the prompts (loaded lazily
    from ``config.model_name`` when not given).
    """

    determinism = "kernel"  # torch / ONNX Runtime embeddings (recutils.embeddings.DETERMINISM)

    def __init__(self, doc_embeddings: np.ndarray, movie_ids, titles, config: DenseConfig = DenseConfig(), model=None):
        super().__init__(movie_ids, titles)
        emb = np.ascontiguousarray(doc_embeddings, dtype=np.float32)
        if emb.ndim != 2 or emb.shape[0] != self.n_docs:
            raise ValueError(f"need one embedding row per movie, got shape {emb.shape} for {self.n_docs} movies")
        self.doc_embeddings = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        if model is not None and encoder_backend(model) != config.backend:
            raise ConfigError(f"dense search config: backend {config.backend!r} was given a {encoder_backend(model)!r} "
                              "model; load it with load_encoder(name, backend) or pass none")
        self.config = config
        self._model = model
        self.name = "dense:" + canonical_name(config.model_name).rsplit("/", 1)[-1]

    @classmethod
    def from_movies(
        cls,
        movies: pd.DataFrame,
        config: DenseConfig = DenseConfig(),
        builder: TextBuilder = SEARCH_TEXT,
        model=None,
        cache_dir=None,
        progress: bool = False,
    ):
        """Embed a movie table's texts (disk-cached by model, backend, ``builder.key`` and text hash)."""
        texts = corpus_texts(movies, builder)
        emb = cached_encode(
            config.model_name, texts, key=builder.key, cache_dir=cache_dir, model=model,
            batch_size=config.batch_size, normalize=True, progress=progress, backend=config.backend,
        )
        return cls(emb, movies[COL_ITEM].to_numpy(), movies[COL_TITLE].to_numpy(), config, model=model)

    @property
    def model(self):
        if self._model is None:
            self._model = load_encoder(self.config.model_name, self.config.backend)
        return self._model

    def config_dict(self) -> dict:
        return {"method": self.name, **asdict(self.config), "dim": int(self.doc_embeddings.shape[1])}

    def encode_queries(self, queries: Sequence[str]) -> np.ndarray:
        """Normalised prompt embeddings ``(n, d)``, encoded in batches."""
        return encode(self.model, list(queries), batch_size=self.config.batch_size, normalize=True)

    def score_matrix(self, queries: Sequence[str]) -> np.ndarray:
        return self.encode_queries(queries) @ self.doc_embeddings.T

    def score_one(self, query: str) -> np.ndarray:
        """One prompt: encoded and scored with ``config.query_threads`` torch threads (an onnx
        encoder without a fixed thread count follows torch's).

        The cosine product runs in torch too, so the BLAS thread pool is not involved.
        """
        import torch

        with torch_threads(self.config.query_threads):
            q = encode(self.model, [query], batch_size=1, normalize=True)
            with torch.inference_mode():
                return (self._doc_tensor() @ torch.from_numpy(q[0])).numpy()

    def _doc_tensor(self):
        import torch

        if getattr(self, "_docs_t", None) is None:
            self._docs_t = torch.from_numpy(self.doc_embeddings)  # shares memory
        return self._docs_t
