"""Issue 21: the artifacts folder is a verified, self-contained bundle. Every tampering — a path
out of the folder, an altered file, an altered file with a matching manifest, a corrupt file, a
manifest of the wrong shape — is one WARNING naming the file and a fit at start-up, or, with
``--require-artifacts``, one ``error:`` line (exit 2); nothing outside the folder is read and no
request answers 500. ``artifacts`` runs are atomic. Small bundles (mostpop, a one-epoch torch_cf)."""

import json
import logging
import os
import shutil

import numpy as np
import pytest

from recutils.datasets.integrity import sha256_file
from recutils.serving import RecService, ServiceConfig
from recutils.serving import artifacts as art
from recutils.serving.bundle import ArtifactError, check_rel

TINY_TORCH = {"embedding_dim": 8, "feature_dim": 4, "hidden": [16], "max_epochs": 1, "refit": False,
              "batch_size": 4096, "implicit": False}


@pytest.fixture(scope="module")
def movies(data_dir):
    from recutils.datasets import movie_table

    return movie_table(data_dir)


@pytest.fixture(scope="module")
def good(tmp_path_factory, data_dir, ratings, movies):
    out = tmp_path_factory.mktemp("bundle") / "artifacts"
    art.write_artifacts(out, ["mostpop", "torch_cf"], data_dir, {"torch_cf": TINY_TORCH}, with_metrics=False,
                        ratings=ratings, movies=movies)
    return out


@pytest.fixture
def bundle(good, tmp_path):
    d = tmp_path / "artifacts"
    shutil.copytree(good, d, symlinks=True)
    return d


def manifest(d):
    return json.loads((d / "manifest.json").read_text())


def write_manifest(d, m):
    (d / "manifest.json").write_text(json.dumps(m))


def relist(d):
    """The attacker also rewrites the manifest's file list: only the content checks are left."""
    m = manifest(d)
    m["files"] = {rel: {"size": (d / rel).stat().st_size, "sha256": sha256_file(d / rel)} for rel in m["files"]}
    write_manifest(d, m)


def edit_npz(d, rel, **changes):
    with np.load(d / rel) as z:
        arrays = {k: z[k] for k in z.files}
    for k, f in changes.items():
        arrays[k] = f(arrays[k])
    with open(d / rel, "wb") as fh:
        np.savez(fh, **arrays)


def start(d, ratings, movies, models=("mostpop",), **kw):
    return RecService(ServiceConfig(models=list(models), artifacts=str(d), **kw), ratings=ratings, movies=movies)


def warnings_of(caplog):
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_manifest_lists_every_file_with_size_and_sha256(good):
    m = manifest(good)
    on_disk = sorted(p.relative_to(good).as_posix() for p in good.rglob("*") if p.is_file() and p.name != "manifest.json")
    assert m["format"] == 2 and sorted(m["files"]) == on_disk
    for rel, e in m["files"].items():
        assert e == {"size": (good / rel).stat().st_size, "sha256": sha256_file(good / rel)}
    assert not [p for p in good.parent.iterdir() if p.name.startswith(".")]  # no partial folder left


def test_good_bundle_is_served_without_fitting(good, ratings, movies, monkeypatch):
    monkeypatch.setattr(art, "build_model", lambda *a, **k: pytest.fail("fitted although the artifact is there"))
    svc = start(good, ratings, movies, ("mostpop", "torch_cf"), require_artifacts=True)
    assert svc.models["mostpop"].source == "artifact mostpop/topn.npz"
    assert svc.similar_source == "artifact search/similar.npz" and svc.search_source == "tfidf: artifact search/tfidf"
    h = svc.info()
    assert h["artifacts"]["dir"] == "artifacts" and h["config"]["artifacts"] == "artifacts"
    assert str(good.parent) not in json.dumps(h)  # no absolute paths


def _outside(d):
    o = d.parent / "outside"
    o.mkdir(exist_ok=True)
    shutil.copyfile(d / "mostpop" / "topn.npz", o / "topn.npz")
    return o / "topn.npz"


# (how to tamper, the one-line problem: {d} is the bundle folder)
CASES = {
    "dotdot": (lambda d: _set(d, ["models", "mostpop", "files", "topn"], "../outside/topn.npz"),
               "{d}/manifest.json: models.mostpop.files.topn '../outside/topn.npz' is not a plain relative path "
               "inside the artifacts folder"),
    "absolute": (lambda d: _set(d, ["models", "mostpop", "files", "topn"], "/etc/passwd"),
                 "{d}/manifest.json: models.mostpop.files.topn '/etc/passwd' is not a plain relative path inside "
                 "the artifacts folder"),
    "tfidf_dir_out": (lambda d: _set(d, ["search", "tfidf", "dir"], "../../x"),
                      "{d}/manifest.json: search.tfidf.dir '../../x' is not a plain relative path inside the "
                      "artifacts folder"),
    "weights_out": (lambda d: _set(d, ["models", "torch_cf", "files", "weights"], "/tmp/model.safetensors"),
                    "{d}/manifest.json: models.torch_cf.files.weights '/tmp/model.safetensors' is not a plain "
                    "relative path inside the artifacts folder"),
    "topn_123": (lambda d: _set(d, ["models", "mostpop", "files", "topn"], 123),
                 "{d}/manifest.json: models.mostpop.files.topn must be a non-empty relative path, got 123"),
    "models_list": (lambda d: _set(d, ["models"], []),
                    "{d}/manifest.json: models must be an object, got []"),
    "search_str": (lambda d: _set(d, ["search"], "tfidf"),
                   "{d}/manifest.json: search must be an object, got 'tfidf'"),
    "nested": (lambda d: (d / "manifest.json").write_text("[" * 100_000 + "]" * 100_000),
               "{d}/manifest.json is not readable JSON (maximum recursion depth exceeded while decoding a JSON "
               "array from a unicode string)"),
    "format_1": (lambda d: _set(d, ["format"], 1),
                 "{d}/manifest.json is format 1, this service reads format 2 (`python -m recutils.serving "
                 "artifacts` rewrites it)"),
    "truncated_manifest": (lambda d: (d / "manifest.json").write_text((d / "manifest.json").read_text()[:100]),
                           None),
}


def _set(d, keys, value):
    m = manifest(d)
    o = m
    for k in keys[:-1]:
        o = o[k]
    o[keys[-1]] = value
    write_manifest(d, m)


@pytest.mark.parametrize("case", list(CASES))
def test_unusable_manifest_is_one_warning_and_a_fit(bundle, ratings, movies, caplog, case):
    tamper, msg = CASES[case]
    tamper(bundle)
    with caplog.at_level(logging.INFO, logger="recutils.serving"):
        svc = start(bundle, ratings, movies)
    w = warnings_of(caplog)
    first = w[0]
    if msg is None:
        assert first.startswith(f"{bundle}/manifest.json is not readable JSON (")
    else:
        assert first == msg.format(d=bundle) + ": fitting everything at start-up instead"
    assert svc.models["mostpop"].source.startswith("fitted at start-up") and svc.manifest is None
    with pytest.raises(ArtifactError) as e:
        start(bundle, ratings, movies, require_artifacts=True)
    assert str(e.value) == first.removesuffix(": fitting everything at start-up instead") + " (--require-artifacts)"


def test_symlink_out_of_the_folder_is_refused(bundle, ratings, movies, caplog):
    target = _outside(bundle)
    (bundle / "mostpop" / "topn.npz").unlink()
    os.symlink(target, bundle / "mostpop" / "topn.npz")
    with caplog.at_level(logging.WARNING, logger="recutils.serving"):
        svc = start(bundle, ratings, movies)
    assert warnings_of(caplog) == [f"mostpop: {bundle}/mostpop/topn.npz: resolves to {target.resolve()}, outside the "
                                   "artifacts folder: fitting it on all ratings instead"]
    assert svc.models["mostpop"].source.startswith("fitted at start-up")


def _reverse(a):
    return a[:, ::-1].copy()


# (tamper the top-N table, what is wrong); each checked with the manifest left alone (SHA-256
# differs) and with the manifest's list rewritten to match (the array checks catch it)
TOPN_CASES = {
    "reversed": (dict(items=_reverse), None),  # scores still in order: only the SHA-256 tells
    "reversed_both": (dict(items=_reverse, scores=_reverse), "scores not in descending order (user 1)"),
    "shifted_ids": (dict(items=lambda a: np.where(a >= 0, a + 10_000_000, a)),
                    "61,000 movie ids not in the catalogue (e.g. 10000318)"),
    "nan_scores": (dict(scores=lambda a: np.full_like(a, np.nan)), "scores that are not finite (NaN or infinite)"),
    "nan_items": (dict(items=lambda a: np.full(a.shape, np.nan)),
                  "items must be an integer (610, N) array, got float64 (610, 100)"),
    "ten_rows": (dict(users=lambda a: a[:10], items=lambda a: a[:10], scores=lambda a: a[:10]),
                 "10 rows for 610 users served"),
    "too_few_columns": (dict(items=lambda a: a[:, :5], scores=lambda a: a[:, :5]),
                        "5 movies per user, the service needs 100 (max_k)"),
    "repeated": (dict(items=lambda a: np.repeat(a[:, :1], a.shape[1], 1), scores=lambda a: np.repeat(a[:, :1], a.shape[1], 1)),
                 "a movie listed twice in one row"),
}


@pytest.mark.parametrize("relisted", [False, True])
@pytest.mark.parametrize("case", list(TOPN_CASES))
def test_altered_top_n_is_never_served(bundle, ratings, movies, caplog, case, relisted):
    changes, problem = TOPN_CASES[case]
    if relisted and problem is None:
        pytest.skip("a consistent table under a rewritten manifest is only caught by refitting")
    edit_npz(bundle, "mostpop/topn.npz", **changes)
    if relisted:
        relist(bundle)
    with caplog.at_level(logging.WARNING, logger="recutils.serving"):
        svc = start(bundle, ratings, movies)
    rel = f"{bundle}/mostpop/topn.npz"
    (w,) = warnings_of(caplog)
    if relisted:
        assert w == f"mostpop: {rel}: {problem}: fitting it on all ratings instead"
    else:
        assert w.startswith(f"mostpop: {rel}: ") and w.endswith(("(edited or replaced?): fitting it on all ratings instead",
                                                               "(cut short or replaced?): fitting it on all ratings instead"))
    fresh = RecService(ServiceConfig(models=["mostpop"]), ratings=ratings, movies=movies)
    assert svc.user_recommend(1, 10) == fresh.user_recommend(1, 10)


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04garbage", os.urandom(4096)], ids=["empty", "zip_head", "random"])
def test_corrupt_files_with_a_matching_manifest(bundle, ratings, movies, caplog, content, monkeypatch):
    build = art.build_model
    monkeypatch.setattr(art, "build_model", lambda name, mv, params=None: build(name, mv, TINY_TORCH if name == "torch_cf" else params))
    for rel in ("mostpop/topn.npz", "search/similar.npz", "search/tfidf/idf.npy", "torch_cf/model.safetensors"):
        (bundle / rel).write_bytes(content)
    relist(bundle)
    (bundle / "torch_cf" / "topn.npz").unlink()  # torch_cf: its weights are tried next
    m = manifest(bundle)
    del m["files"]["torch_cf/topn.npz"]
    write_manifest(bundle, m)
    with caplog.at_level(logging.WARNING, logger="recutils.serving"):
        svc = start(bundle, ratings, movies, ("mostpop", "torch_cf"))
    w = warnings_of(caplog)
    assert w[0].startswith(f"mostpop: {bundle}/mostpop/topn.npz: not a readable .npz (")
    assert w[1] == (f"torch_cf: {bundle}/torch_cf/topn.npz: not listed in manifest.json's files (size and SHA-256 "
                    "unknown): trying its weights instead")
    assert w[2].startswith(f"torch_cf: {bundle}/torch_cf/model.safetensors: cannot load it (")
    assert w[3].startswith(f"similar movies: {bundle}/search/similar.npz: not a readable .npz (")
    assert w[4].startswith(f"TF-IDF index: {bundle}/search/tfidf/idf.npy: not a readable .npy (")
    assert len(w) == 5 and all("\n" not in x for x in w)
    assert all(m.source.startswith("fitted") for m in svc.models.values()) and svc.similar is None
    assert svc.search_source == "tfidf: built at start-up"


def test_reversed_similar_and_out_of_range_vocabulary(bundle, ratings, movies, caplog):
    edit_npz(bundle, "search/similar.npz", items=_reverse, scores=_reverse)
    voc = json.loads((bundle / "search/tfidf/vocabulary.json").read_text())
    voc[next(iter(voc))] = 10**9
    (bundle / "search/tfidf/vocabulary.json").write_text(json.dumps(voc))
    relist(bundle)
    with caplog.at_level(logging.WARNING, logger="recutils.serving"):
        svc = start(bundle, ratings, movies)
    w = warnings_of(caplog)
    assert w[0] == (f"similar movies: {bundle}/search/similar.npz: negative movie ids other than -1 padding at the "
                    "end of a row: computing each movie's neighbours per request instead")
    assert w[1].startswith(f"TF-IDF index: {bundle}/search/tfidf: vocabulary indices must be 0…")
    assert svc.title_or_prompt("a heist in las vegas", 5)["items"]


def test_unlisted_and_missing_files(bundle, ratings, movies, caplog):
    (bundle / "search" / "similar.npz").unlink()
    m = manifest(bundle)
    del m["files"]["mostpop/topn.npz"]
    write_manifest(bundle, m)
    with caplog.at_level(logging.WARNING, logger="recutils.serving"):
        start(bundle, ratings, movies)
    assert warnings_of(caplog)[:2] == [
        f"mostpop: {bundle}/mostpop/topn.npz: not listed in manifest.json's files (size and SHA-256 unknown): "
        "fitting it on all ratings instead",
        f"similar movies: {bundle}/search/similar.npz: missing: computing each movie's neighbours per request instead",
    ]


@pytest.mark.parametrize("rel", ["../x", "/x", "a/../b", "./a", "a//b", "a\\b", "", "a/"])
def test_check_rel_refuses_anything_but_plain_relative_paths(rel):
    with pytest.raises(ArtifactError):
        check_rel(rel)
    assert check_rel("search/tfidf/idf.npy") == "search/tfidf/idf.npy"


def test_require_artifacts_cli_is_one_error_line(bundle, capsys, monkeypatch):
    from recutils.serving.__main__ import main

    edit_npz(bundle, "mostpop/topn.npz", items=_reverse, scores=_reverse)
    relist(bundle)
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: pytest.fail("must not serve"))
    assert main(["--models", "mostpop", "--artifacts", str(bundle), "--require-artifacts"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (f"error: mostpop: {bundle}/mostpop/topn.npz: scores not in descending order (user 1) "
                       "(--require-artifacts)")
    assert not [x for x in err if x.startswith("Traceback")]


# --- atomic runs ---------------------------------------------------------------------------------
def _snapshot(d):
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_failed_run_leaves_the_previous_bundle_untouched(bundle, ratings, movies, monkeypatch):
    before = _snapshot(bundle)

    def boom(*_a, **_k):
        raise art.ArtifactError("planted failure after the models were written")

    monkeypatch.setattr(art, "similar_items", boom)
    with pytest.raises(ArtifactError, match="planted failure"):
        art.write_artifacts(bundle, ["mostpop"], with_metrics=False, ratings=ratings, movies=movies)
    assert _snapshot(bundle) == before
    assert [p.name for p in bundle.parent.iterdir()] == ["artifacts"]  # no partial folder left


def test_bad_param_fails_before_anything_is_written(bundle, capsys):
    from recutils.serving.__main__ import main

    before = _snapshot(bundle)
    assert main(["artifacts", "--out", str(bundle), "--models", "mostpop,torch_cf", "--param", "torch_cf.lr=nan",
                 "--no-metrics"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "lr" in err[0]
    assert _snapshot(bundle) == before


@pytest.mark.parametrize("out,msg", [
    ("/proc/nope", "error: cannot write the artifacts folder /proc/nope: "),
])
def test_unwritable_out_is_one_line(out, msg, capsys):
    from recutils.serving.__main__ import main

    assert main(["artifacts", "--out", out, "--models", "mostpop", "--no-metrics"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(msg), err


def test_out_that_is_not_a_bundle_is_not_replaced(tmp_path, capsys):
    from recutils.serving.__main__ import main

    (tmp_path / "notes.txt").write_text("mine")
    assert main(["artifacts", "--out", str(tmp_path), "--models", "mostpop", "--no-metrics"]) == 2
    assert capsys.readouterr().err.strip() == (f"error: refusing to replace {tmp_path}: it is not empty and holds no "
                                               "manifest.json (not an artifacts folder); choose a new or empty folder")
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_rewriting_a_bundle_replaces_it_whole(bundle, ratings, movies):
    (bundle / "stale.npy").write_bytes(b"x")
    art.write_artifacts(bundle, ["mostpop"], with_metrics=False, ratings=ratings, movies=movies)
    assert not (bundle / "stale.npy").exists() and not (bundle / "torch_cf").exists()
    assert sorted(manifest(bundle)["models"]) == ["mostpop"]
    assert [p.name for p in bundle.parent.iterdir()] == ["artifacts"]
