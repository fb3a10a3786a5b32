"""The FastAPI service end to end (in-process ASGI client; no network)."""

import pytest
from fastapi.testclient import TestClient

from recutils.serving import create_app


@pytest.fixture(scope="module")
def client(data_dir):
    with TestClient(create_app(data_dir=data_dir), raise_server_exceptions=False) as c:
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
