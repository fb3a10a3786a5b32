"""The FastAPI service end to end (in-process ASGI client; no network)."""

import pytest
from fastapi.testclient import TestClient

from recutils.serving import ServiceConfig, create_app


@pytest.fixture(scope="module")
def client(data_dir):
    # EASE only, no artifacts: fitted at start-up in about a second (the CLI's default adds torch_cf)
    with TestClient(create_app(config=ServiceConfig(models=["ease"]), data_dir=data_dir),
                    raise_server_exceptions=False) as c:
        yield c


def test_health(client):
    r = client.get("/health").json()
    assert r["status"] == "ok" and r["n_users"] == 610 and r["config"]["model"] == "ease"


def test_user_recommend_excludes_seen(client, ratings):
    r = client.get("/user_recommend/1", params={"k": 7})
    assert r.status_code == 200
    items = r.json()["items"]
    assert [i["rank"] for i in items] == list(range(1, 8))
    seen = set(ratings.loc[ratings.userId == 1, "movieId"])
    assert not {i["movieId"] for i in items} & seen and all(i["title"] for i in items)


@pytest.mark.parametrize("path,status,msg", [
    ("/user_recommend/999999", 404, "unknown user"),
    ("/user_recommend/1?k=0", 400, "k must be"),
    ("/user_recommend/1?k=1000", 400, "k must be"),
    ("/user_recommend/abc", 422, ""),
    ("/title-or-prompt?q=", 400, "empty"),
    ("/title-or-prompt?q=%20%20%20", 400, "empty"),
    ("/title-or-prompt?q=%F0%9F%8E%AC%F0%9F%8D%BF", 400, "no letters or digits"),
    ("/title-or-prompt?q=heat&mode=nope", 400, "mode must be"),
    ("/title-or-prompt?q=zzxqwv&mode=title", 404, "no movie title"),
])
def test_user_mistakes_are_clear_json_errors(client, path, status, msg):
    r = client.get(path)
    assert r.status_code == status
    assert msg in str(r.json()["detail"])


def test_title_gives_similar_movies(client):
    r = client.get("/title-or-prompt", params={"q": "star wars", "k": 5}).json()
    assert r["mode"] == "title" and r["matched"]["title"] == "Star Wars: Episode IV - A New Hope (1977)"
    assert any("Empire Strikes Back" in i["title"] for i in r["items"])
    assert all(i["movieId"] != 260 for i in r["items"])


def test_prompt_search_and_long_prompt(client):
    r = client.get("/title-or-prompt", params={"q": "a heist movie in las vegas", "k": 5}).json()
    assert r["mode"] == "prompt" and len(r["items"]) == 5
    long = client.get("/title-or-prompt", params={"q": "space adventure " * 625})  # 10,000 characters
    assert long.status_code == 200 and long.json()["mode"] == "prompt"


# --- error mapping (issue #8): NotFoundError → 404, RecutilsError → 400, a bug → logged 500 ----------
def test_not_found_is_a_project_error():
    from recutils.errors import NotFoundError, RecutilsError

    assert issubclass(NotFoundError, RecutilsError) and issubclass(NotFoundError, LookupError)


def test_unknown_movie_in_similar_to_is_not_found(client):
    from recutils.errors import NotFoundError

    with pytest.raises(NotFoundError, match="unknown movie"):
        client.app.state.service.similar_to(-12345)


@pytest.mark.parametrize("exc", [KeyError("movieId"), IndexError("list index out of range"), ZeroDivisionError()])
def test_a_bug_is_a_logged_500_without_traceback(client, monkeypatch, caplog, exc):
    def buggy(*_a, **_k):
        raise exc

    monkeypatch.setattr(client.app.state.service, "user_recommend", buggy)
    with caplog.at_level("ERROR", logger="recutils.serving.app"):
        r = client.get("/user_recommend/1")
    assert r.status_code == 500 and r.json() == {"detail": "internal error"}  # a KeyError is not a 404
    assert "Traceback" not in r.text and "movieId" not in r.text
    rec = [x for x in caplog.records if x.name == "recutils.serving.app"]
    assert rec and rec[-1].exc_info and rec[-1].exc_info[0] is type(exc)


def test_other_project_errors_are_400(client, monkeypatch):
    from recutils.errors import DataError, NotFoundError

    def raising(cls, msg):
        def f(*_a, **_k):
            raise cls(msg)
        return f

    monkeypatch.setattr(client.app.state.service, "title_or_prompt", raising(DataError, "a data problem"))
    r = client.get("/title-or-prompt", params={"q": "heat"})
    assert r.status_code == 400 and r.json() == {"detail": "a data problem"}
    monkeypatch.setattr(client.app.state.service, "title_or_prompt", raising(NotFoundError, "no such thing"))
    r = client.get("/title-or-prompt", params={"q": "heat"})
    assert r.status_code == 404 and r.json() == {"detail": "no such thing"}


# --- /title-or-prompt: input_text is an alias of q (the recsys app's API) ---------------------------
def test_input_text_is_an_alias_of_q(client):
    a = client.get("/title-or-prompt", params={"input_text": "star wars", "k": 3})
    b = client.get("/title-or-prompt", params={"q": "star wars", "k": 3})
    same = client.get("/title-or-prompt", params={"q": "star wars", "input_text": "star wars", "k": 3})
    assert a.status_code == b.status_code == same.status_code == 200
    assert a.json() == b.json() == same.json()


@pytest.mark.parametrize("params,msg", [
    ({}, "missing query"),
    ({"k": 3}, "missing query"),
    ({"q": "heat", "input_text": "alien"}, "q and input_text"),
])
def test_query_parameter_mistakes_are_400(client, params, msg):
    r = client.get("/title-or-prompt", params=params)
    assert r.status_code == 400 and isinstance(r.json()["detail"], str) and msg in r.json()["detail"]
