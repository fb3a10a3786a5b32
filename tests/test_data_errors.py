"""Bad data gives a clear one-line DataError naming the file, never a traceback (issue #8).

Registered files (``<dir>/ml-latest-small/ratings.csv``, …) are checked against the
registry before use: size every time, SHA-256 once per file state (remembered under
``$RECUTILS_CACHE_DIR``). Files outside the registry (a flat ``<dir>/ratings.csv`` or a file
path) are not checksummed, but their columns and dtypes are, with the first bad line named.
Corrupt copies of the mirror are built in ``tmp_path``; the mirror itself is never touched.
"""

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recutils.datasets import __main__ as cli
from recutils.datasets import (
    fetch, integrity, load_links, load_movie_table, load_movies, load_ratings, load_tags, load_tmdb, movie_table,
    registry, verify,
)
from recutils.datasets.registry import DatasetSpec, FileSpec
from recutils.errors import ChecksumError, DataError

ROOT = Path(__file__).resolve().parents[1]
RATINGS, MOVIES, TAGS, LINKS, TMDB = ("ml-latest-small/ratings.csv", "ml-latest-small/movies.csv",
                                      "ml-latest-small/tags.csv", "ml-latest-small/links.csv",
                                      "tmdb/movie_data.parquet")
HEADER = "userId,movieId,rating,timestamp\n"


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    """Remembered checksums go to a private cache, never ~/.cache."""
    c = tmp_path / "cache"
    monkeypatch.setenv("RECUTILS_CACHE_DIR", str(c))
    return c


@pytest.fixture
def copy_mirror(tmp_path, data_dir):
    """copy_mirror(*rel) -> a folder holding private (writable, new-inode) copies of those mirror files."""
    def make(*rels, name="data"):
        root = tmp_path / name
        for rel in rels:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(data_dir / rel, root / rel)  # bytes only: a new file, the mirror stays read-only
        return root
    return make


def _cut_at_line(path: Path, n_bytes: int) -> None:
    """Keep the first ``n_bytes`` of a file, then back to the end of the last whole line."""
    b = path.read_bytes()[:n_bytes]
    path.write_bytes(b[: b.rindex(b"\n") + 1])


def _flat(tmp_path, name: str, text, sub="custom") -> Path:
    """A custom data folder with one flat file (not in the registry: no checksum)."""
    d = tmp_path / sub
    d.mkdir(exist_ok=True)
    p = d / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return d


def _raises(fn, *args, match: str, **kw) -> str:
    """Call ``fn``; it must raise a one-line DataError containing ``match`` (plain text)."""
    with pytest.raises(DataError, match=re.escape(match)) as e:
        fn(*args, **kw)
    msg = str(e.value)
    assert "\n" not in msg, "errors are one line"
    return msg


# --------------------------------------------------------------- registered files: verify before use

def test_ratings_cut_at_1_5_mb_is_refused_not_silently_used(copy_mirror):
    root = copy_mirror(RATINGS)
    _cut_at_line(root / RATINGS, 1_500_000)  # still parses: without the check metrics would be wrong
    assert len(load_ratings(root, verify=False)) < 100_836
    msg = _raises(load_ratings, root, match="ratings.csv is truncated")
    assert str(root / RATINGS) in msg and "expected 2483723" in msg
    assert f"python -m recutils.datasets fetch --data-dir {root}" in msg and "verify" in msg


@pytest.mark.parametrize("cut", [1_000_003, 0])
def test_ratings_cut_mid_line_or_empty(copy_mirror, cut):
    root = copy_mirror(RATINGS)
    p = root / RATINGS
    p.write_bytes(p.read_bytes()[:cut])
    msg = _raises(load_ratings, root, match="ratings.csv is truncated")
    assert f"({cut} bytes, expected 2483723)" in msg


def test_one_byte_edit_same_size_is_a_checksum_error(copy_mirror):
    root = copy_mirror(MOVIES, LINKS, TAGS, TMDB)
    p = root / MOVIES
    b = bytearray(p.read_bytes())
    b[b.index(b"Toy Story")] = ord("J")
    p.write_bytes(bytes(b))
    with pytest.raises(ChecksumError) as e:
        load_movies(root)
    msg = str(e.value)
    assert f"{p} is corrupt" in msg and registry.MOVIELENS_SMALL.file(MOVIES).sha256 in msg
    with pytest.raises(ChecksumError, match="movies.csv is corrupt"):
        movie_table(root)  # what the service and the notebooks call
    assert load_movies(root, verify=False).title[0] == "Joy Story (1995)"  # what used to be served


def test_garbage_parquet_in_registered_layout(copy_mirror):
    root = copy_mirror(TMDB)
    (root / TMDB).write_bytes(b"not a parquet file at all\n")
    _raises(load_tmdb, root, match="movie_data.parquet is truncated (26 bytes")


def test_checksum_is_remembered_per_file_state(copy_mirror, monkeypatch, cache):
    root = copy_mirror(RATINGS)
    calls = []
    real = integrity.sha256_file
    monkeypatch.setattr(integrity, "sha256_file", lambda p: calls.append(p) or real(p))
    load_ratings(root)
    assert len(calls) == 1 and (cache / "datasets" / "sha256-memo.json").is_file()
    integrity._seen.clear()  # a new process: only the JSON memo is left
    load_ratings(root)
    load_ratings(root)
    assert len(calls) == 1
    # a same-size edit with the old mtime put back is still seen (ctime / inode are part of the state)
    p = root / RATINGS
    st = p.stat()
    b = bytearray(p.read_bytes())
    b[-3] = ord("9") if b[-3] != ord("9") else ord("8")
    with open(p, "r+b") as fh:
        fh.write(bytes(b))
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    with pytest.raises(ChecksumError, match="ratings.csv is corrupt"):
        load_ratings(root)
    assert len(calls) == 2


def test_unwritable_cache_still_verifies(copy_mirror, monkeypatch, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("RECUTILS_CACHE_DIR", str(blocker))
    root = copy_mirror(RATINGS)
    assert len(load_ratings(root)) == 100_836


def test_good_mirror_loads_identically_with_and_without_verification(data_dir):
    pd.testing.assert_frame_equal(load_ratings(data_dir), load_ratings(data_dir, verify=False))
    pd.testing.assert_frame_equal(load_movies(data_dir), load_movies(data_dir, verify=False))


def test_tiny_files_in_registered_layout_need_verify_false(tmp_path):
    (tmp_path / "ml-latest-small").mkdir()
    (tmp_path / RATINGS).write_text(HEADER + "1,10,4.0,100\n2,11,3.5,200\n")
    _raises(load_ratings, tmp_path, match="is truncated")
    df = load_ratings(tmp_path, verify=False)
    assert df.rating.tolist() == [4.0, 3.5] and df.userId.dtype == np.int64


# --------------------------------------------------------------- custom files: parse errors are one line

def test_custom_flat_folder_and_file_path_load_without_checksum(tmp_path):
    d = _flat(tmp_path, "ratings.csv", HEADER + "1,10,4.0,100\n2,11,3.5,200\n")
    df = load_ratings(d)
    pd.testing.assert_frame_equal(df, load_ratings(d / "ratings.csv"))
    assert df.dtypes.tolist() == [np.int64, np.int64, np.float64, np.int64] and len(df) == 2
    with pytest.raises(DataError, match="is truncated"):  # verify=True: checked against the registry anyway
        load_ratings(d, verify=True)


@pytest.mark.parametrize("text,expected", [
    (HEADER + "1,10,4.0,100\n1,11,abc,101\n", "ratings.csv line 3: rating 'abc' is not a number"),
    (HEADER + "1,10,4.0,100\n1,11,4.0,101\n1,1", "ratings.csv line 4: expected 4 fields (userId,movieId,rating,timestamp), found 2; the file ends mid-line"),
    (HEADER + "1,10,4.0,100\n1,11,4.0,101,7\n", "ratings.csv line 3: expected 4 fields"),
    (HEADER + "1,10,4.0,100,7\n", "ratings.csv line 2: expected 4 fields"),  # pandas would shift columns
    (HEADER + "1,10,,100\n", "ratings.csv line 2: rating is empty"),
    (HEADER + "1.5,10,4.0,100\n", "ratings.csv line 2: userId '1.5' is not an integer"),
    (HEADER + "1,10,4.0,NA\n", "ratings.csv line 2: timestamp is missing ('NA')"),
    ("userId,movieId,timestamp\n1,10,100\n", "ratings.csv: missing column rating"),
    (HEADER, "ratings.csv has a header but no data rows"),
    ("", "ratings.csv is empty (0 bytes)"),
    ("\n\n", "ratings.csv is empty"),
    (b"\xff\xfe\x00garbage\n" + b"1,2,3,4\n", "ratings.csv: not UTF-8 text"),
])
def test_bad_ratings_name_file_and_line(tmp_path, text, expected):
    d = _flat(tmp_path, "ratings.csv", text)
    msg = _raises(load_ratings, d, match=expected)
    assert str(d / "ratings.csv") in msg


@pytest.mark.parametrize("loader,name,text,expected", [
    (load_movies, "movies.csv", "movieId,title,genres\n1,Heat (1995),Action\nx,Up (2009),Animation\n", "movies.csv line 3: movieId 'x' is not an integer"),
    (load_movies, "movies.csv", "movieId,title,genres\n1,,Action\n", "movies.csv line 2: title is empty"),
    (load_tags, "tags.csv", "userId,movieId,tag,timestamp\n1,2,fun,100\n1,2,fun,soon\n", "tags.csv line 3: timestamp 'soon' is not an integer"),
    (load_links, "links.csv", "movieId,imdbId,tmdbId\n1,0114709,862\n2,tt0113497,8844\n", "links.csv line 3: imdbId 'tt0113497' is not an integer"),
])
def test_bad_movielens_files(tmp_path, loader, name, text, expected):
    d = _flat(tmp_path, name, text)
    _raises(loader, d, match=expected)


def test_good_custom_tags_and_links_allow_missing_optional_values(tmp_path):
    d = _flat(tmp_path, "links.csv", "movieId,imdbId,tmdbId\n1,0114709,862\n2,0113497,\n")
    assert load_links(d).tmdbId.isna().tolist() == [False, True]


def test_garbage_parquet_is_one_line(tmp_path):
    d = _flat(tmp_path, "movie_data.parquet", b"PAR1 but not really\n" * 50)
    msg = _raises(load_tmdb, d, match="movie_data.parquet: not a parquet file (")
    assert str(d / "movie_data.parquet") in msg


def test_parquet_without_the_columns(tmp_path):
    d = tmp_path / "custom"
    d.mkdir()
    pd.DataFrame({"imdb_id": ["tt1"], "title": ["x"]}).to_parquet(d / "movie_data.parquet")
    _raises(load_tmdb, d, match="movie_data.parquet: missing columns overview, genres")


def test_movie_table_wants_a_folder(tmp_path):
    d = _flat(tmp_path, "movies.csv", "movieId,title,genres\n1,Heat (1995),Action\n")
    _raises(load_movie_table, d / "movies.csv", match="needs a data folder")


# --------------------------------------------------------------- fetch / verify

def _refused_url(name: str) -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now: the download is refused at once
    return f"http://127.0.0.1:{port}/{name}"


def test_data_dir_that_is_a_file(tmp_path, monkeypatch, capsys):
    f = tmp_path / "oops.txt"
    f.write_text("x")
    monkeypatch.setenv("RECUTILS_DATA_DIR", str(f))
    for cmd in ("fetch", "verify"):
        assert cli.main([cmd, "--quiet"]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith(f"error: data directory {f}") and "is a file, not a folder" in err
        assert "$RECUTILS_DATA_DIR" in err
    _raises(load_ratings, match="is a file, not a folder")


def test_failed_fetch_removes_the_folders_it_created(tmp_path, monkeypatch):
    spec = DatasetSpec("gone", _refused_url("gone.zip"), archive="zip", files=(FileSpec("gone/f.csv", "0" * 64, "f.csv"),))
    monkeypatch.setitem(registry.DATASETS, "gone", spec)
    with pytest.raises(DataError, match="cannot download"):
        fetch(["gone"], tmp_path / "a" / "b" / "data", progress=False)
    assert not (tmp_path / "a").exists()


def test_offline_fetch_over_corrupt_file_says_which_and_why(tmp_path, monkeypatch):
    spec = DatasetSpec("toy", _refused_url("toy.zip"), archive="zip",
                       files=(FileSpec("toy/a.csv", "a" * 64, "toy/a.csv", size=5),))
    monkeypatch.setitem(registry.DATASETS, "toy", spec)
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy/a.csv").write_bytes(b"abc")
    msg = _raises(fetch, ["toy"], tmp_path, progress=False, match="cannot download")
    local = msg.index(f"{tmp_path / 'toy/a.csv'} is truncated (3 bytes, expected 5)")
    assert local < msg.index("fetching a fresh copy failed") < msg.index("cannot download")
    assert (tmp_path / "toy/a.csv").read_bytes() == b"abc"  # left as it was


def test_verify_reports_every_bad_file(copy_mirror, capsys):
    root = copy_mirror(RATINGS, MOVIES, LINKS, "ml-latest-small/README.txt", TMDB)  # tags.csv missing
    _cut_at_line(root / RATINGS, 1_500_000)
    b = bytearray((root / MOVIES).read_bytes())
    b[100] ^= 1
    (root / MOVIES).write_bytes(bytes(b))
    with pytest.raises(ChecksumError) as e:
        verify(None, root)
    msg = str(e.value)
    assert "3 of 6 files failed verification" in msg
    for rel in (RATINGS, MOVIES, TAGS):
        assert rel in msg
    assert cli.main(["verify", "--data-dir", str(root)]) == 1
    out, err = capsys.readouterr()
    assert "ok  ml-latest-small/links.csv" in out and "ok  tmdb/movie_data.parquet" in out
    lines = err.splitlines()
    assert len(lines) == 4 and all(line.startswith("error: ") for line in lines)
    assert "movies.csv is corrupt" in lines[0] and "ratings.csv is truncated" in lines[1] and "tags.csv is missing" in lines[2]
    assert lines[-1].startswith(f"error: 3 of 6 files failed verification in {root}") and "Traceback" not in err


# --------------------------------------------------------------- the command lines: exit 2, one line

def _run(*args, cache):
    env = {**os.environ, "RECUTILS_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)


def _one_error_line(r, *names):
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    for n in names:
        assert n in lines[0]


def test_evaluate_cli_refuses_cut_ratings(copy_mirror, cache):
    root = copy_mirror(RATINGS)
    _cut_at_line(root / RATINGS, 1_500_000)
    r = _run("recutils.evaluate", "--model", "mostpop", "--data-dir", str(root), cache=cache)
    _one_error_line(r, str(root / RATINGS), "is truncated", "python -m recutils.datasets fetch")


def test_evaluate_cli_names_bad_line_in_custom_data(tmp_path, cache):
    d = _flat(tmp_path, "ratings.csv", HEADER + "1,10,4.0,100\n1,11,abc,101\n")
    r = _run("recutils.evaluate", "--model", "mostpop", "--data-dir", str(d), cache=cache)
    _one_error_line(r, "ratings.csv line 3: rating 'abc' is not a number")


def test_serving_cli_refuses_edited_movies(copy_mirror, cache):
    root = copy_mirror(RATINGS, MOVIES, LINKS, TAGS, TMDB)
    b = bytearray((root / MOVIES).read_bytes())
    b[b.index(b"Toy Story")] = ord("J")
    (root / MOVIES).write_bytes(bytes(b))
    r = _run("recutils.serving", "--data-dir", str(root), "--port", "8765", cache=cache)
    _one_error_line(r, str(root / MOVIES), "is corrupt")
