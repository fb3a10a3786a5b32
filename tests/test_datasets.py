"""Fetching (against a loopback HTTP server — never the network), verifying and loading."""

import hashlib
import http.server
import io
import threading
import zipfile
from pathlib import Path

import pytest

from recutils.datasets import __main__ as cli
from recutils.datasets import fetch, load_movie_table, registry, verify
from recutils.datasets.registry import DatasetSpec, FileSpec
from recutils.errors import ChecksumError, DataError

A, B = b"userId,movieId\n1,2\n", b"hello\n"
SHA = lambda b: hashlib.sha256(b).hexdigest()  # noqa: E731


def _zip(members: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for k, v in members.items():
            z.writestr(k, v)
    return buf.getvalue()


@pytest.fixture
def server():
    """Serve a dict path -> bytes on 127.0.0.1."""
    files: dict[str, bytes] = {}
    hits: list[str] = []

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            body = files.get(self.path)
            if body is None:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", files, hits
    srv.shutdown()


@pytest.fixture
def toy_spec(server, monkeypatch):
    base, files, hits = server
    spec = DatasetSpec("toy", f"{base}/toy.zip", archive="zip", files=(
        FileSpec("toy/a.csv", SHA(A), "toy/a.csv"), FileSpec("toy/b.txt", SHA(B), "toy/b.txt")))
    monkeypatch.setitem(registry.DATASETS, "toy", spec)
    return spec, files, hits


def test_fetch_downloads_verifies_and_caches(tmp_path, toy_spec):
    spec, files, hits = toy_spec
    files["/toy.zip"] = _zip({"toy/a.csv": A, "toy/b.txt": B})
    out = fetch(["toy"], tmp_path, progress=False)
    assert (tmp_path / "toy/a.csv").read_bytes() == A and set(out) == {"toy/a.csv", "toy/b.txt"}
    fetch(["toy"], tmp_path, progress=False)  # cached: no second download
    assert len(hits) == 1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".fetch-")]


def test_corrupt_download_does_not_poison_cache(tmp_path, toy_spec):
    spec, files, hits = toy_spec
    files["/toy.zip"] = _zip({"toy/a.csv": A + b"tampered", "toy/b.txt": B})
    with pytest.raises(ChecksumError) as e:
        fetch(["toy"], tmp_path, progress=False)
    assert SHA(A) in str(e.value) and "toy/a.csv" in str(e.value)
    assert not (tmp_path / "toy").exists()  # nothing half-written, not even the good file
    files["/toy.zip"] = _zip({"toy/a.csv": A, "toy/b.txt": B})
    fetch(["toy"], tmp_path, progress=False)
    assert verify(["toy"], tmp_path)


def test_unsafe_archive_member_refused(tmp_path, server, monkeypatch):
    base, files, _ = server
    spec = DatasetSpec("evil", f"{base}/evil.zip", archive="zip", files=(FileSpec("x", SHA(A), "../x"),))
    monkeypatch.setitem(registry.DATASETS, "evil", spec)
    files["/evil.zip"] = _zip({"../x": A})
    with pytest.raises(DataError, match="unsafe"):
        fetch(["evil"], tmp_path, progress=False)
    assert not (tmp_path.parent / "x").exists()


def test_offline_gives_clear_error(tmp_path, server, monkeypatch):
    base, files, _ = server  # nothing served -> 404
    spec = DatasetSpec("gone", f"{base}/gone.parquet", files=(FileSpec("gone/f", SHA(A)),))
    monkeypatch.setitem(registry.DATASETS, "gone", spec)
    with pytest.raises(DataError, match="cannot download .*gone.parquet"):
        fetch(["gone"], tmp_path, progress=False)


def test_verify_reports_missing_and_mismatch(tmp_path, toy_spec, capsys):
    with pytest.raises(DataError, match="toy/a.csv is missing") as e:
        verify(["toy"], tmp_path)
    assert "make data" in str(e.value) and "RECUTILS_DATA_DIR" in str(e.value)
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy/a.csv").write_bytes(b"other")
    with pytest.raises(ChecksumError):
        verify(["toy"], tmp_path)
    # the CLI names the file and both hashes, exits non-zero, no traceback
    assert cli.main(["verify", "--dataset", "toy", "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "toy/a.csv" in err and SHA(A) in err and SHA(b"other") in err and "Traceback" not in err


def test_mirror_verifies_and_is_used_as_is(data_dir):
    files = verify(None, data_dir)
    assert len(files) == 6
    assert fetch(None, data_dir, progress=False).keys() == files.keys()  # no download attempted


def test_data_dir_resolution(monkeypatch, tmp_path):
    from recutils.datasets import resolve_data_dir

    monkeypatch.setenv("RECUTILS_DATA_DIR", str(tmp_path))
    assert resolve_data_dir() == tmp_path
    assert resolve_data_dir("/x") == Path("/x")
    monkeypatch.delenv("RECUTILS_DATA_DIR")
    assert resolve_data_dir().parts[-3:] == (".cache", "recutils", "data")


def test_movie_table(data_dir):
    m = load_movie_table(data_dir)
    assert len(m) == 9742 and m.movieId.is_unique
    assert int((m.overview != "").sum()) == 7030
    toy = m.set_index("movieId").loc[1]
    assert toy.clean_title == "Toy Story" and toy.year == 1995 and "Animation" in toy.genres
    assert toy.has_tmdb and toy.vote_count > 0
    assert m.set_index("movieId").loc[2571].clean_title == "The Matrix"  # "Matrix, The (1999)"


def test_text_builder(data_dir):
    from recutils.datasets import TextBuilder

    m = load_movie_table(data_dir).head(3)
    assert TextBuilder().build(m)[0] == "Toy Story Adventure Animation Children Comedy Fantasy pixar fun"
    lab = TextBuilder(fields=("title", "overview"), style="labelled").build(m)[0]
    assert lab.startswith("Title: Toy Story. Overview: Led by Woody")
    assert TextBuilder().key != TextBuilder(fields=("title",)).key
    with pytest.raises(ValueError):
        TextBuilder(fields=("plot",))
