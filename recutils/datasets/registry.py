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
    #: the file's SHA-256; "" for a member of an archive whose own checksum is the published
    #: one (the members' SHA-256 are recorded at fetch time from the verified archive, see
    #: :data:`MANIFEST`)
    sha256: str
    member: str | None = None  #: name inside the downloaded archive (None: the download is the file)
    size: int | None = None  #: expected size in bytes (None: only the SHA-256 is checked)


#: per-folder record of members extracted from a verified archive: ``{file name: {size, sha256}}``
MANIFEST = ".recutils-verified.json"


@dataclass(frozen=True)
class ArchiveSpec:
    """A downloaded archive checked against a *published* checksum before anything is extracted.

    ``sha256`` where a public source publishes one; otherwise ``md5`` (GroupLens' own
    ``<archive>.md5`` files). ``source`` says where the checksum was taken from.
    """

    name: str  #: file name of the archive, e.g. ``ml-1m.zip``; ``<data dir>/<name>`` is used offline
    sha256: str = ""
    md5: str = ""
    size: int | None = None  #: bytes, where published
    source: str = ""


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
    #: the published checksum of the download (datasets whose member checksums are not published)
    archive_file: ArchiveSpec | None = None
    #: fetched / verified by default (``make data``); large releases are fetched only when named
    default: bool = True
    #: on-disk format of the ratings and movies files: "csv" (header, commas) or "dat" (``::``)
    fmt: str = "csv"
    folder: str = ""  #: the folder the archive extracts to (``ml-10M100K`` for ml-10m)

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


def _release(name: str, folder: str, fmt: str, archive: ArchiveSpec, description: str) -> DatasetSpec:
    ext = "dat" if fmt == "dat" else "csv"
    return DatasetSpec(
        name=name,
        url=f"https://files.grouplens.org/datasets/movielens/{archive.name}",
        archive="zip",
        files=tuple(FileSpec(f"{folder}/{n}.{ext}", "", f"{folder}/{n}.{ext}") for n in ("ratings", "movies")),
        licence="GroupLens research licence (research use; see the README in the archive)",
        citation=MOVIELENS_SMALL.citation,
        description=description,
        archive_file=archive,
        default=False,
        fmt=fmt,
        folder=folder,
    )


_TFDS = ("tensorflow/datasets, tensorflow_datasets/url_checksums/movielens.txt "
         "(commit 1c076ac3c19c8ea83e1d1a75e0623c9a699e0d7c): size and SHA-256 of the GroupLens zip")
_GROUPLENS_MD5 = ("no public SHA-256 found; the MD5 GroupLens publishes beside the archive "
                  "(https://files.grouplens.org/datasets/movielens/{}.md5), as quoted in {}")

#: the larger MovieLens releases (not fetched by default: ``make data DATASET=ml-25m``)
MOVIELENS_1M = _release(
    "ml-1m", "ml-1m", "dat",
    ArchiveSpec("ml-1m.zip", sha256="a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
                size=5917549, source=_TFDS),
    "MovieLens 1M (2003): 1,000,209 ratings (whole stars) of 3,706 movies by 6,040 users; '::'-separated .dat files.")
MOVIELENS_10M = _release(
    "ml-10m", "ml-10M100K", "dat",
    ArchiveSpec("ml-10m.zip", md5="ce571fd55effeba0271552578f2648bd",
                source=_GROUPLENS_MD5.format("ml-10m.zip", "eli-osherovich/papers_with_code, datasets/movielens/dl_config.py")),
    "MovieLens 10M (2009): 10,000,054 ratings (half stars) of 10,681 movies by 71,567 users; '::'-separated .dat files.")
MOVIELENS_20M = _release(
    "ml-20m", "ml-20m", "csv",
    ArchiveSpec("ml-20m.zip", sha256="96f243c338a8665f6bcc89c53edf6ee39162a846940de6b7c8c48aeada765ff3",
                size=198702078, source=_TFDS),
    "MovieLens 20M (2015): 20,000,263 ratings of 27,278 movies by 138,493 users; CSV.")
MOVIELENS_25M = _release(
    "ml-25m", "ml-25m", "csv",
    ArchiveSpec("ml-25m.zip", sha256="8b21cfb7eb1706b4ec0aac894368d90acf26ebdfb6aced3ebd4ad5bd1eb9c6aa",
                size=261978986, source=_TFDS),
    "MovieLens 25M (2019): 25,000,095 ratings of 62,423 movies by 162,541 users; CSV.")
MOVIELENS_32M = _release(
    "ml-32m", "ml-32m", "csv",
    ArchiveSpec("ml-32m.zip", md5="d472be332d4daa821edc399621853b57",
                source=_GROUPLENS_MD5.format("ml-32m.zip", "a public download script citing it "
                                             "(found with the code search; GroupLens' .md5 is the primary source)")),
    "MovieLens 32M (2023): 32,000,204 ratings of 87,585 movies by 200,948 users; CSV.")

RELEASES = (MOVIELENS_1M, MOVIELENS_10M, MOVIELENS_20M, MOVIELENS_25M, MOVIELENS_32M)

DATASETS: dict[str, DatasetSpec] = {d.name: d for d in (MOVIELENS_SMALL, TMDB, *RELEASES)}
#: the datasets ``make data`` / ``verify`` handle when none is named
DEFAULT_DATASETS: tuple[str, ...] = tuple(d.name for d in DATASETS.values() if d.default)


def get_spec(name: str) -> DatasetSpec:
    from ..errors import DataError

    try:
        return DATASETS[name]
    except KeyError:
        raise DataError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}") from None
