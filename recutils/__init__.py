"""recutils: the small shared package behind the recsys-notebooks notebooks.

Where things live:

- ``recutils.datasets``   fetching (download + SHA-256 verify + cache) and loading
- ``recutils.splits``     evaluation protocols (study, validation, global-time, per-user-last, cold-item)
- ``recutils.evaluation`` ranking / rating metrics and paired bootstrap
- ``recutils.models``     every recommender, one interface (``Recommender``)
- ``recutils.evaluate``   command-line evaluation of any registered model
"""

__version__ = "0.1.0"
