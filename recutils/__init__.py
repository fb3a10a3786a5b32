"""recutils: the small shared package behind the recsys-notebooks notebooks.

Where things live:

- ``recutils.datasets``   fetching (download + SHA-256 verify + cache) and loading
- ``recutils.splits``     evaluation protocols (study, validation, global-time, per-user-last, cold-item)
- ``recutils.evaluation`` ranking / rating metrics and paired bootstrap
- ``recutils.models``     every recommender, one interface (``Recommender``)
- ``recutils.evaluate``   command-line evaluation of any registered model
"""

def _version() -> str:
    """The installed distribution's version (single-sourced in pyproject.toml)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("recutils")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


__version__ = _version()
