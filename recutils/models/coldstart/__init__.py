"""Cold-start item models: content vectors (metadata and/or text embeddings) mapped into a warm
CF model's space.

- :mod:`.features`: :func:`content_matrix` (standardised with warm-item statistics only);
- :mod:`.mapping`: :class:`ContentToCF` (registered as ``content_to_cf``: ridge or MLP map onto
  EASE columns or ALS factors), :func:`warm_mask` (refuses a split where a cold item has
  training ratings);
- :mod:`.baselines`: :class:`GenrePopularity` (``genre_pop``: the popularity of a movie's genres).

The text side features of the PyTorch model are in :mod:`recutils.models.torch_cf`
(``text_dim``, ``item_text``).
"""

from .baselines import GenrePopularity, GenrePopularityConfig
from .features import ContentMatrix, content_matrix
from .mapping import ContentToCF, ContentToCFConfig, mlp_map, ridge_cold_scores, warm_mask

__all__ = ["GenrePopularity", "GenrePopularityConfig", "ContentMatrix", "ContentToCF", "ContentToCFConfig", "content_matrix", "mlp_map",
           "ridge_cold_scores", "warm_mask"]
