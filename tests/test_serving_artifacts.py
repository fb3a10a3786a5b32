"""Issue 13: the service's artifacts (written once, in open formats, with a manifest), start-up
from them (checked against the data, fitting only what is missing, saying so in the log), model
choice per request, /health, and the demo page's endpoints. Tiny torch_cf settings keep it fast."""

import json
import logging
import shutil

import numpy as np
import pytest
from fastapi.testclient import TestClient

from recutils.serving import RecService, ServiceConfig, create_app
from recutils.serving import artifacts as art

TINY_TORCH = {"embedding_dim": 8, "feature_dim": 4, "hidden": [16], "max_epochs": 1, "refit": False,
              "batch_size": 4096, "implicit": False}


@pytest.fixture(scope="module")
def movies(data_dir):
    from recutils.datasets import movie_table

    return movie_table(data_dir)


@pytest.fixture(scope="module")
def art_dir(tmp_path_factory, data_dir, ratings, movies):
    out = tmp_path_factory.mktemp("artifacts")
    art.write_artifacts(out, ["ease", "torch_cf"], data_dir, {"torch_cf": TINY_TORCH}, search=("tfidf",),
                        ratings=ratings, movies=movies)
    return out


@pytest.fixture(scope="module")
def served(art_dir, ratings, movies):
    return RecService(ServiceConfig(models=["ease", "torch_cf"], artifacts=str(art_dir)), ratings=ratings, movies=movies)


def test_manifest_names_open_files_checksums_config_and_study_metrics(art_dir, ratings, movies):
    m = json.loads((art_dir / "manifest.json").read_text())
    assert m["format"] == art.FORMAT and m["created_at"].endswith("+00:00")
    assert {k: m["data"][k] for k in ("ratings_sha256", "movies_sha256")} == \
        {k: art.data_checksums(ratings, movies)[k] for k in ("ratings_sha256", "movies_sha256")}
    assert m["data"]["files"]["ml-latest-small/ratings.csv"] == \
        "aa289ca83157595d0df6aea1be6a4ded676ddc4385472e8313a8ed9805352646"
    ease, tcf = m["models"]["ease"], m["models"]["torch_cf"]
    assert ease["config"]["lambda_"] == 300.0 and tcf["config"]["embedding_dim"] == 8
    assert ease["metrics"]["protocol"] == "study" and ease["metrics"]["k"] == 25
    assert ease["metrics"]["precision"] == pytest.approx(0.1551, abs=5e-4)  # README's EASE row
    assert "rmse" not in ease["metrics"] and 0.5 < tcf["metrics"]["rmse"] < 1.5
    assert tcf["files"]["weights"].endswith("model.safetensors")
    files = [p for p in art_dir.rglob("*") if p.is_file()]
    assert {p.suffix for p in files} <= {".json", ".npz", ".npy", ".safetensors"}  # no pickle anywhere
    for p in files:
        if p.suffix in (".npz", ".npy"):
            np.load(p, allow_pickle=False)  # numeric arrays only
        assert not p.name.startswith(".")  # no temporary file left behind


def test_service_starts_from_artifacts_without_fitting(art_dir, ratings, movies, monkeypatch, caplog):
    def never(*_a, **_k):
        raise AssertionError("a model was fitted although its artifact is there")

    monkeypatch.setattr(art, "build_model", never)
    with caplog.at_level(logging.INFO, logger="recutils.serving"):
        svc = RecService(ServiceConfig(models=["ease", "torch_cf"], artifacts=str(art_dir)), ratings=ratings, movies=movies)
    assert all(m.source.startswith("artifact ") for m in svc.models.values())
    assert svc.search_source.startswith("tfidf: artifact") and svc.similar_source.startswith("artifact")
    assert "match the data" in caplog.text and "torch_cf: loaded" in caplog.text


def test_artifacts_answer_like_a_fit_at_start_up(served, ratings, movies):
    fresh = RecService(ServiceConfig(models=["ease"]), ratings=ratings, movies=movies)
    assert fresh.models["ease"].source.startswith("fitted at start-up") and fresh.similar is None
    for u in (1, 7, 610):
        assert served.user_recommend(u, 20, "ease") == fresh.user_recommend(u, 20, "ease")
    for q in ("star wars", "heat", "a heist movie in las vegas", "toy story"):
        assert served.title_or_prompt(q, 10) == fresh.title_or_prompt(q, 10)


def test_mismatched_data_is_refitted_and_logged(art_dir, ratings, movies, caplog):
    fewer = ratings.iloc[1:]
    with caplog.at_level(logging.INFO, logger="recutils.serving"):
        svc = RecService(ServiceConfig(models=["ease"], artifacts=str(art_dir)), ratings=fewer, movies=movies)
    assert "do not match the data served" in caplog.text and "ratings differ" in caplog.text
    assert svc.models["ease"].source.startswith("fitted at start-up") and svc.models["ease"].metrics is None


def test_only_the_missing_model_is_fitted(art_dir, ratings, movies, caplog):
    with caplog.at_level(logging.INFO, logger="recutils.serving"):
        svc = RecService(ServiceConfig(models=["ease", "mostpop"], artifacts=str(art_dir)), ratings=ratings, movies=movies)
    assert svc.models["ease"].source.startswith("artifact")
    assert svc.models["mostpop"].source.startswith("fitted at start-up")
    assert "mostpop: no usable artifact" in caplog.text and "ease: no usable" not in caplog.text


def test_torch_cf_weights_alone_are_enough(art_dir, tmp_path, ratings, movies, served, caplog):
    d = tmp_path / "a"
    shutil.copytree(art_dir, d)
    (d / "torch_cf" / "topn.npz").unlink()
    with caplog.at_level(logging.INFO, logger="recutils.serving"):
        svc = RecService(ServiceConfig(models=["torch_cf"], artifacts=str(d)), ratings=ratings, movies=movies)
    assert svc.models["torch_cf"].source == "artifact torch_cf/model.safetensors"
    assert f"torch_cf: {d}/torch_cf/topn.npz: missing: trying its weights instead" in caplog.text
    a, b = svc.user_recommend(5, 10, "torch_cf"), served.user_recommend(5, 10, "torch_cf")
    assert [i["movieId"] for i in a["items"]] == [i["movieId"] for i in b["items"]]


def test_no_artifacts_folder_fits_and_says_so(tmp_path, ratings, movies, caplog):
    with caplog.at_level(logging.INFO, logger="recutils.serving"):
        svc = RecService(ServiceConfig(models=["mostpop"], artifacts=str(tmp_path / "none")), ratings=ratings, movies=movies)
    assert "no artifacts at" in caplog.text and svc.models["mostpop"].source.startswith("fitted")


# --- over HTTP ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def client(served):
    with TestClient(create_app(service=served), raise_server_exceptions=False) as c:
        yield c


def test_model_per_request(client, ratings):
    a = client.get("/user_recommend/1", params={"k": 5}).json()
    b = client.get("/user_recommend/1", params={"k": 5, "model": "torch_cf"}).json()
    assert a["model"] == "ease" and b["model"] == "torch_cf" and a["items"] != b["items"]
    seen = set(ratings.loc[ratings.userId == 1, "movieId"])
    assert not {i["movieId"] for i in b["items"]} & seen


@pytest.mark.parametrize("model,msg", [
    ("itemcf", "model 'itemcf' is not loaded by this service; choose one of: ease, torch_cf"),
    ("nope", "unknown model 'nope'; choose one of: ease, torch_cf"),
    ("", "unknown model ''; choose one of: ease, torch_cf"),
])
def test_unloaded_or_unknown_model_is_400_naming_the_choices(client, model, msg):
    r = client.get("/user_recommend/1", params={"model": model})
    assert r.status_code == 400 and r.json()["detail"].startswith(msg)


def test_health_lists_models_sources_and_study_metrics(client, art_dir):
    h = client.get("/health").json()
    assert h["default_model"] == "ease" and list(h["models"]) == ["ease", "torch_cf"]
    assert h["models"]["ease"]["source"] == "artifact ease/topn.npz" and h["artifacts"]["dir"] == art_dir.name
    assert h["models"]["ease"]["study_metrics"]["P@25"] == pytest.approx(0.1551, abs=5e-4)
    assert h["models"]["torch_cf"]["study_metrics"]["RMSE"] > 0 and h["artifacts"]["used"] is True
    assert h["user_id_range"] == [1, 610]


def test_user_history_is_highest_rated_first(client, ratings):
    r = client.get("/user_history/1", params={"k": 15}).json()
    vals = [i["rating"] for i in r["items"]]
    assert vals == sorted(vals, reverse=True) and vals[0] == ratings.loc[ratings.userId == 1, "rating"].max()
    assert r["n_rated"] == int((ratings.userId == 1).sum())
    assert client.get("/user_history/999999").status_code == 404
    assert client.get("/user_history/1", params={"k": 0}).status_code == 400


def test_items_carry_tmdb_posters(client):
    items = client.get("/user_recommend/1", params={"k": 10}).json()["items"]
    assert any(i["poster"] and i["poster"].startswith("https://image.tmdb.org/t/p/") for i in items)


def test_demo_page_and_docs_are_served(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "/user_recommend/" in r.text and "/title-or-prompt" in r.text and "/user_history/" in r.text
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/user_recommend/{user_id}", "/title-or-prompt", "/health", "/user_history/{user_id}"} <= set(paths)


# --- the CLI -----------------------------------------------------------------------------------
@pytest.mark.parametrize("argv,msg", [
    (["artifacts", "--models", "ease,nope"], "valid models: "),
    (["artifacts", "--models", ""], "--models needs at least one"),
    (["artifacts", "--param", "lambda_=3"], "--param must look like MODEL.KEY=VALUE"),
    (["artifacts", "--param", "itemcf.k=3"], "is not one of --models"),
    (["artifacts", "--search", "bm25"], "--search must be one of"),
    (["--models", "ease,nope"], "valid models: "),
])
def test_cli_bad_arguments(argv, msg, capsys, monkeypatch):
    from recutils.serving.__main__ import main

    monkeypatch.setattr(art, "write_artifacts", lambda *a, **k: pytest.fail("must not train"))
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and msg in err[0]


def test_cli_writes_artifacts(tmp_path, capsys):
    from recutils.serving.__main__ import main

    assert main(["artifacts", "--out", str(tmp_path), "--models", "mostpop", "--no-metrics"]) == 0
    assert "mostpop: no study metrics" in capsys.readouterr().out
    m = json.loads((tmp_path / "manifest.json").read_text())
    assert m["models"]["mostpop"]["files"]["topn"] == "mostpop/topn.npz" and m["models"]["mostpop"]["metrics"] is None


def test_cli_skips_an_unchanged_bundle_and_force_rebuilds(tmp_path, capsys, monkeypatch):
    from recutils.serving.__main__ import main

    build_model = art.build_model
    monkeypatch.delenv("RECUTILS_PROGRESS", raising=False)
    argv = ["artifacts", "--out", str(tmp_path / "a"), "--models", "mostpop", "--no-metrics"]
    assert main(argv) == 0
    first = capsys.readouterr()
    assert first.out.startswith(f"artifacts: building: no bundle in {tmp_path / 'a'}\n")
    assert "artifacts [1/4] mostpop: fit on all ratings, top-N, save: done in " in first.err and "\r" not in first.err
    monkeypatch.setattr(art, "build_model", lambda *a, **k: pytest.fail("an unchanged bundle must not train"))
    assert main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith("artifacts: unchanged since ") and out[0].endswith(
        " (skipped; --force rebuilds)")
    monkeypatch.setattr(art, "build_model", build_model)
    assert main(argv + ["--force"]) == 0
    assert capsys.readouterr().out.startswith("artifacts: rebuilding: --force\nmostpop: no study metrics")
