"""The larger MovieLens releases (registry, archive checksums, loaders in each release's exact
format) and the synthetic MovieLens-format generator — tiny files only, never the network
(fetches go to a loopback HTTP server)."""

import dataclasses
import hashlib
import re

import numpy as np
import pandas as pd
import pytest

from recutils.datasets import fetch, load_movies, load_ratings, registry, verify
from recutils.datasets import __main__ as cli
from recutils.datasets.registry import MANIFEST, RELEASES, ArchiveSpec
from recutils.datasets.synth import SHAPES, default_shape, fit_shapes, generate, parse_size, write
from recutils.errors import ConfigError, DataError

from test_datasets import _zip, server  # noqa: F401 (fixture)

# ---------------------------------------------------------------- tiny files in each release's format

ML1M_RATINGS = b"1::1193::5::978300760\n1::661::3::978302109\n2::3068::4::978299000\n"
# ml-1m's movies.dat is ISO-8859-1; titles contain ':' and '(' and genres use '|'
ML1M_MOVIES = "1::Toy Story (1995)::Animation|Children's|Comedy\n260::Star Wars: Episode IV - A New Hope (1977)::Action|Adventure|Fantasy|Sci-Fi\n3068::Verdict, The (1982)::Drama\n1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n661::James and the Giant Peach (1996)::Animation|Children's|Musical\n2::Café au lait (1993)::Comedy\n".encode("latin-1")
ML10M_RATINGS = b"1::122::5::838985046\n1::185::4.5::838983525\n71567::2107::1::912580553\n"
ML10M_MOVIES = "122::Boomerang (1992)::Comedy|Romance\n185::Net, The (1995)::Action|Crime|Thriller\n2107::Halloween H20: 20 Years Later (Halloween 7: The Revenge of Laurie Strode) (1998)::Horror|Thriller\n".encode()
CSV_RATINGS = b"userId,movieId,rating,timestamp\n1,296,5.0,1147880044\n1,306,3.5,1147868817\n3,2,0.5,1439472215\n"
CSV_MOVIES = ('movieId,title,genres\n1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy\n11,"American President, The (1995)",Comedy|Drama|Romance\n296,Pulp Fiction (1994),Comedy|Crime|Drama|Thriller\n'
              '306,Three Colors: Red (Trois couleurs: Rouge) (1994),Drama\n2,Jumanji (1995),Adventure|Children|Fantasy\n').encode()

FORMATS = {
    "ml-1m": (ML1M_RATINGS, ML1M_MOVIES, [(1, 1193, 5.0, 978300760), (1, 661, 3.0, 978302109), (2, 3068, 4.0, 978299000)]),
    "ml-10m": (ML10M_RATINGS, ML10M_MOVIES, [(1, 122, 5.0, 838985046), (1, 185, 4.5, 838983525), (71567, 2107, 1.0, 912580553)]),
    "ml-20m": (CSV_RATINGS, CSV_MOVIES, [(1, 296, 5.0, 1147880044), (1, 306, 3.5, 1147868817), (3, 2, 0.5, 1439472215)]),
}
FORMATS["ml-25m"] = FORMATS["ml-32m"] = FORMATS["ml-20m"]


def _put(root, name, ratings: bytes, movies: bytes):
    spec = registry.DATASETS[name]
    for f, body in zip(spec.files, (ratings, movies)):
        p = root / f.path
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(body)
    return spec


@pytest.mark.parametrize("name", [s.name for s in RELEASES])
def test_each_release_loader_reads_its_exact_format(tmp_path, name):
    ratings, movies, expected = FORMATS[name]
    spec = _put(tmp_path, name, ratings, movies)
    r = load_ratings(tmp_path, dataset=name, verify=False)
    assert list(r.columns) == ["userId", "movieId", "rating", "timestamp"]
    assert [str(t) for t in r.dtypes] == ["int64", "int64", "float64", "int64"]
    assert [tuple(x) for x in r.itertuples(index=False)] == expected
    m = load_movies(tmp_path, dataset=name, verify=False)
    assert list(m.columns) == ["movieId", "title", "genres"] and m["movieId"].dtype == np.int64
    if spec.fmt == "dat":
        assert "Star Wars: Episode IV - A New Hope (1977)" in set(m["title"]) or "Halloween H20" in m["title"].iloc[-1]
        if name == "ml-1m":
            assert "Café au lait (1993)" in set(m["title"])  # ISO-8859-1 decoded
    else:
        assert "American President, The (1995)" in set(m["title"])
    # the same files flat in a folder (custom data, e.g. the synthetic generator's output)
    flat = tmp_path / "flat"
    flat.mkdir()
    for f, body in zip(spec.files, (ratings, movies)):
        (flat / f.path.split("/")[-1]).write_bytes(body)
    pd.testing.assert_frame_equal(load_ratings(flat, dataset=name), r)


def test_dat_parse_errors_name_the_line(tmp_path):
    _put(tmp_path, "ml-1m", b"1::1193::5::978300760\n1::66x1::3::978302109\n", ML1M_MOVIES)
    with pytest.raises(DataError, match=r"ratings.dat line 2: movieId '66x1' is not an integer"):
        load_ratings(tmp_path, dataset="ml-1m", verify=False)
    _put(tmp_path, "ml-1m", b"1::1193::5::978300760\n1::661::3\n", ML1M_MOVIES)
    with pytest.raises(DataError, match=r"line 2: expected 4 '::'-separated fields"):
        load_ratings(tmp_path, dataset="ml-1m", verify=False)
    _put(tmp_path, "ml-1m", ML1M_RATINGS, b"1::Toy Story (1995)\n")
    with pytest.raises(DataError, match=r"movies.dat line 1: expected 3 '::'-separated fields"):
        load_movies(tmp_path, dataset="ml-1m", verify=False)
    with pytest.raises(DataError, match="unknown MovieLens dataset 'ml-2m'"):
        load_ratings(tmp_path, dataset="ml-2m")


def test_registry_entries_have_published_checksums_and_sources():
    for spec in RELEASES:
        a = spec.archive_file
        assert spec.url == f"https://files.grouplens.org/datasets/movielens/{a.name}" and spec.archive == "zip"
        assert re.fullmatch(r"[0-9a-f]{64}", a.sha256) or re.fullmatch(r"[0-9a-f]{32}", a.md5), spec.name
        assert a.source and not spec.default
        assert {f.path.rsplit("/", 1)[1] for f in spec.files} == {f"ratings.{spec.fmt}", f"movies.{spec.fmt}"}
    assert registry.MOVIELENS_10M.folder == "ml-10M100K"
    # `make data` (no names) does not download gigabytes
    from recutils.datasets.fetch import default_names

    assert default_names() == ["ml-latest-small", "tmdb"]


def _release_spec(base, name="toy-1m", **archive):
    spec = registry.MOVIELENS_1M
    return dataclasses.replace(spec, name=name, url=f"{base}/{name}.zip",
                               archive_file=ArchiveSpec(f"{name}.zip", source="test", **archive))


def test_fetch_checks_the_published_archive_checksum_then_records_members(tmp_path, server, monkeypatch):  # noqa: F811
    base, files, hits = server
    body = _zip({"ml-1m/ratings.dat": ML1M_RATINGS, "ml-1m/movies.dat": ML1M_MOVIES, "ml-1m/users.dat": b"x"})
    files["/toy-1m.zip"] = body
    # a wrong published checksum: nothing extracted
    monkeypatch.setitem(registry.DATASETS, "toy-1m", _release_spec(base, sha256="0" * 64))
    with pytest.raises(DataError, match="does not match its published checksum .*sha256"):
        fetch(["toy-1m"], tmp_path, progress=False)
    assert not (tmp_path / "ml-1m").exists()
    # the right MD5 (GroupLens' .md5 files): extracted, members recorded, loaders verify against the record
    monkeypatch.setitem(registry.DATASETS, "toy-1m", _release_spec(base, md5=hashlib.md5(body).hexdigest()))
    fetch(["toy-1m"], tmp_path, progress=False)
    assert (tmp_path / "ml-1m" / MANIFEST).exists() and verify(["toy-1m"], tmp_path)
    rated = tmp_path / "ml-1m" / "ratings.dat"
    rated.write_bytes(ML1M_RATINGS.replace(b"::5::", b"::4::"))  # same size, edited
    problems = [c.problem for c in __import__("recutils.datasets", fromlist=["check"]).check(["toy-1m"], tmp_path)]
    assert [p.kind for p in problems if p] == ["checksum"]
    # a member copied in by hand, without a verified archive, is refused with how to fix it
    (tmp_path / "ml-1m" / MANIFEST).unlink()
    with pytest.raises(DataError, match="was not extracted from a verified archive"):
        verify(["toy-1m"], tmp_path)


def test_fetch_uses_an_archive_the_user_put_in_the_data_dir(tmp_path, server, monkeypatch):  # noqa: F811
    base, files, hits = server
    body = _zip({"ml-1m/ratings.dat": ML1M_RATINGS, "ml-1m/movies.dat": ML1M_MOVIES})
    monkeypatch.setitem(registry.DATASETS, "toy-1m",
                        _release_spec(base, sha256=hashlib.sha256(body).hexdigest(), size=len(body)))
    (tmp_path / "toy-1m.zip").write_bytes(body)
    fetch(["toy-1m"], tmp_path, progress=False)
    assert hits == [] and len(load_ratings(tmp_path, dataset="ml-1m", verify=False)) == 3
    (tmp_path / "toy-1m.zip").write_bytes(body[:-1])
    (tmp_path / "ml-1m" / "ratings.dat").unlink()
    with pytest.raises(DataError, match=r"toy-1m.zip is not the published toy-1m.zip \(\d+ bytes, expected"):
        fetch(["toy-1m"], tmp_path, progress=False)


def test_missing_release_says_how_to_fetch_it(tmp_path):
    with pytest.raises(DataError, match=r"make data DATASET=ml-25m.*published checksum"):
        load_ratings(tmp_path, dataset="ml-25m")


# ---------------------------------------------------------------- the synthetic generator

def test_synth_shapes_are_fitted_to_ml_latest_small(ratings, data_dir):
    assert fit_shapes(ratings, load_movies(data_dir)) == SHAPES


def test_synth_exact_size_distinct_pairs_and_histogram():
    r, m = generate(20_000, 200, 2000, seed=3)
    assert len(r) == 20_000 and not r.duplicated(["userId", "movieId"]).any()
    assert r["userId"].nunique() == 200 and r["movieId"].between(1, 2000).all() and len(m) == 2000
    assert set(r["rating"]) <= set(np.arange(1, 11) / 2)
    hist = r["rating"].value_counts(normalize=True).reindex(np.arange(1, 11) / 2, fill_value=0).to_numpy()
    assert np.abs(hist - np.asarray(SHAPES.rating_hist)).max() < 0.01
    counts = r["userId"].value_counts()
    assert counts.min() >= 20 and counts.max() > 5 * counts.median()  # power-law activity
    pop = r["movieId"].value_counts()
    assert pop.iloc[:200].sum() > 0.25 * len(r)  # the top 10 % of movies take a large share
    assert r["timestamp"].between(SHAPES.t_min, SHAPES.t_max).all()
    r2, m2 = generate(20_000, 200, 2000, seed=3)
    pd.testing.assert_frame_equal(r, r2)
    assert not generate(20_000, 200, 2000, seed=4)[0].equals(r)


def test_synth_has_personal_signal():
    """Genre taste drives what a user rates and likes: a personal model (EASE) beats popularity on
    the study protocol, as on real MovieLens data."""
    from recutils.evaluation import evaluate_ranking
    from recutils.models import create
    from recutils.splits import study_split

    r, m = generate(30_000, 300, 1500, seed=0)
    split = study_split(r)
    p = {name: evaluate_ranking(create(name).fit(split), split, k=10).metrics["precision"]
         for name in ("mostpop", "ease")}
    assert p["ease"] > 1.2 * p["mostpop"], p


@pytest.mark.parametrize("fmt,dataset", [("csv", "ml-latest-small"), ("csv", "ml-32m"), ("dat", "ml-1m"), ("dat", "ml-10m")])
def test_synth_written_in_release_format_loads_unchanged(tmp_path, fmt, dataset):
    r, m = generate(3_000, 50, 120, seed=1)
    write(tmp_path, r, m, fmt)
    back = load_ratings(tmp_path, dataset=dataset)
    np.testing.assert_array_equal(back.to_numpy(), r.to_numpy())
    assert list(load_movies(tmp_path, dataset=dataset)["title"]) == list(m["title"])
    first = (tmp_path / f"ratings.{fmt}").read_text().splitlines()[0]
    assert first == "userId,movieId,rating,timestamp" if fmt == "csv" else re.fullmatch(r"\d+::\d+::\d(\.5)?::\d+", first)


def test_synth_cli_and_sizes(tmp_path, capsys):
    assert parse_size("32M") == 32_000_000 and parse_size("200k") == 200_000 and parse_size("1500") == 1500
    assert default_shape(32_000_000)[0] == 200_000 and 80_000 < default_shape(32_000_000)[1] < 95_000  # ml-32m: 87,585
    assert default_shape(1_000_000) == (6250, 3700)  # ml-1m: 6,040 users, 3,706 movies
    assert cli.main(["synth", "--ratings", "2k", "--users", "40", "--items", "100", "--seed", "5",
                     "--out", str(tmp_path)]) == 0
    assert "2,000 ratings by 40 users of 100 movies" in capsys.readouterr().out
    assert len(load_ratings(tmp_path)) == 2000
    assert cli.main(["synth", "--ratings", "lots", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == "error: synth: size 'lots' is not a number (e.g. 1500, 200k, 32M)"
    assert cli.main(["synth", "--ratings", "1000", "--users", "10", "--items", "20", "--out", str(tmp_path)]) == 2
    with pytest.raises(ConfigError, match="do not fit"):
        generate(1000, 10, 20)
