"""Cold-start item models: content vectors (metadata and/or text embeddings) mapped into a warm
CF model's space.

- :mod:`.features`: :func:`content_matrix` (standardised with warm-item statistics only);
- :mod:`.mapping`: :class:`ContentToCF` (registered as ``content_to_cf``: ridge or MLP map onto
  EASE columns or ALS factors), :func:`warm_mask` (refuses a split where a cold item has
  training ratings);
  and the options of issue 24 (``text_dim``, ``text_dropout`` / ``metadata_dropout``,
  ``early_stopping``, ``mapper="residual"``, the MLP onto EASE, ``release_day``);
- :mod:`.mlp`: the cold-start MLP (input dropout per block, early stopping on warm items,
  learning curves);
- :mod:`.blend`: :class:`ColdBlend` (``cold_blend``: a score-level blend of two maps);
- :mod:`.baselines`: :class:`GenrePopularity` (``genre_pop``: the popularity of a movie's genres).

The text side features of the PyTorch model are in :mod:`recutils.models.torch_cf`
(``text_dim``, ``item_text``).
"""

from .baselines import GenrePopularity, GenrePopularityConfig
from .blend import ColdBlend, ColdBlendConfig
from .features import ContentMatrix, content_matrix, release_features
from .mapping import ContentToCF, ContentToCFConfig, ease_factors, mlp_map, ridge_cold_scores, text_columns, warm_mask

__all__ = ["ColdBlend", "ColdBlendConfig", "GenrePopularity", "GenrePopularityConfig", "ContentMatrix", "ContentToCF",
           "ContentToCFConfig", "content_matrix", "ease_factors", "mlp_map", "release_features", "ridge_cold_scores",
           "text_columns", "warm_mask"]
