"""The datasets this project uses: where they come from and what they must hash to.

Each :class:`DatasetSpec` names a public URL and, for every file the project reads,
its path relative to the data directory, its expected SHA-256 and size in bytes. The
checksums are those of the files the public sources serve (the same as
``../shared/data/SHA256SUMS``); the sizes were taken from that mirror with ``stat``.
Loaders compare the size on every use (cheap) and the SHA-256 once per file state
(see :mod:`recutils.datasets.integrity`).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FileSpec:
    path: str  #: relative to the data directory, e.g. ``ml-latest-small/ratings.csv``
    sha256: str
    member: str | None = None  #: name inside the downloaded archive (None: the download is the file)
    size: int | None = None  #: expected size in bytes (None: only the SHA-256 is checked)


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    url: str
    files: tuple[FileSpec, ...]
    archive: str | None = None  #: "zip" when ``url`` serves an archive
    licence: str = ""
    citation: str = ""
    description: str = ""
    extra: dict = field(default_factory=dict)

    def file(self, path: str) -> FileSpec:
        """The :class:`FileSpec` of ``path`` (relative to the data directory)."""
        for f in self.files:
            if f.path == path:
                return f
        raise KeyError(path)


MOVIELENS_SMALL = DatasetSpec(
    name="ml-latest-small",
    url="https://files.grouplens.org/datasets/movielens/ml-latest-small.zip",
    archive="zip",
    files=(
        FileSpec("ml-latest-small/README.txt", "63d22ac138e80fae37021797ed8e1b9424b5239dc576a137422adf783ae3f404", "ml-latest-small/README.txt", size=8342),
        FileSpec("ml-latest-small/links.csv", "97ad18e4e56a09363c65676b6cb3482ce3e2cea2372a24620c1599c843325f31", "ml-latest-small/links.csv", size=197979),
        FileSpec("ml-latest-small/movies.csv", "5a5f32dd9bb3797b8e728a1b98958789d2b13f294a69fdfbc5727f8a9611aa07", "ml-latest-small/movies.csv", size=494431),
        FileSpec("ml-latest-small/ratings.csv", "aa289ca83157595d0df6aea1be6a4ded676ddc4385472e8313a8ed9805352646", "ml-latest-small/ratings.csv", size=2483723),
        FileSpec("ml-latest-small/tags.csv", "92a9f8bb7916dceef6151209845788c3643f794dfa79d1feaec7121b5960399d", "ml-latest-small/tags.csv", size=118660),
    ),
    licence="GroupLens research licence (research use; see ml-latest-small/README.txt)",
    citation="F. Maxwell Harper and Joseph A. Konstan. 2015. The MovieLens Datasets: History and Context. ACM TiiS 5(4).",
    description="MovieLens ml-latest-small (Sept 2018): 100,836 ratings, 3,683 tags, 610 users, 9,742 movies.",
)

TMDB = DatasetSpec(
    name="tmdb",
    url="https://github.com/kensuke0529/Rec-sys/raw/main/data/movie_data.parquet",
    files=(FileSpec("tmdb/movie_data.parquet", "bb4c52b2e03dbfa205f6d63cd30e6c27c7ee92deba84163a49984c84fb9ee2f2", size=3579713),),
    licence="TMDB data as redistributed in The Movies Dataset (CC0)",
    description="TMDB metadata (overview, genres, votes, popularity, runtime, poster) from the Rec-sys project.",
)

DATASETS: dict[str, DatasetSpec] = {d.name: d for d in (MOVIELENS_SMALL, TMDB)}


def get_spec(name: str) -> DatasetSpec:
    from ..errors import DataError

    try:
        return DATASETS[name]
    except KeyError:
        raise DataError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}") from None
