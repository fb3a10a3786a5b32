"""Issue #8 for the service: CLI arguments checked up front (one-line errors, exit 2), and the
app's error mapping, on a stub service (no data, fast). The real service: tests/test_serving.py."""

import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from recutils.errors import ConfigError, DataError, NotFoundError
from recutils.serving import ServiceConfig
from recutils.serving.__main__ import check_host, check_port, main
from recutils.serving.app import create_app


@pytest.mark.parametrize("argv,msg", [
    (["--port", "99999"], "--port must be from 1 to 65535, got 99999"),
    (["--port", "65536"], "--port must be from 1 to 65535"),
    (["--port", "0"], "--port must be from 1 to 65535, got 0"),
    (["--port", "-1"], "--port must be from 1 to 65535"),
    (["--port", "http"], "--port must be a whole number"),
    (["--port", ""], "--port must be a whole number"),
    (["--host", ""], "--host must be an IP address or a host name"),
    (["--host", "bad host"], "--host must be"),
    (["--host=-bad.example"], "--host must be"),
    (["--model", "nope"], "valid models: "),
    (["--search", "bm25"], "--search must be one of tfidf, dense, fusion"),
    (["--data-dir", "/nonexistent/recutils-data"], "is not a directory"),
])
def test_cli_bad_arguments_are_one_line_errors(argv, msg, capsys, monkeypatch):
    import recutils.serving.app as app_mod

    def never(*_a, **_k):
        raise AssertionError("the service must not be built for a bad argument")

    monkeypatch.setattr(app_mod, "create_app", never)
    assert main(argv) == 2
    cap = capsys.readouterr()
    lines = cap.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and msg in lines[0]
    assert "Traceback" not in cap.err and cap.out == ""


def test_cli_port_99999_process_exits_2_without_traceback():
    p = subprocess.run([sys.executable, "-m", "recutils.serving", "--port", "99999"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert p.stderr.strip() == "error: --port must be from 1 to 65535, got 99999"


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0", "::1", "[::1]", "localhost", "my-host.example.org"])
def test_good_hosts_and_ports(host):
    assert check_host(host) == host
    assert check_port("1") == 1 and check_port("65535") == 65535 and check_port(" 8000 ") == 8000


@pytest.mark.parametrize("kw,field", [
    ({"max_k": 0}, "max_k"),
    ({"title_threshold": 101.0}, "title_threshold"),
    ({"title_threshold": float("nan")}, "title_threshold"),
    ({"similar_shrinkage": 0.0}, "similar_shrinkage"),
    ({"search": "bm25"}, "search"),
    ({"model": "nope"}, "model"),
])
def test_service_config_is_validated_before_loading_data(kw, field):
    from recutils.serving import RecService

    with pytest.raises(ConfigError, match=f"service config: {field} must be"):
        RecService(ServiceConfig(**kw), data_dir="/nonexistent")  # fails before touching the data


class StubService:
    """What the app calls, raising what each test plants."""

    def __init__(self):
        self.calls = []

    def info(self):
        return {"status": "ok"}

    def user_recommend(self, user_id, k=10, model=None):
        if user_id == 404:
            raise NotFoundError(f"unknown user {user_id}")
        if user_id == 400:
            raise DataError("the ratings file is unreadable")
        if user_id == 500:
            {}["planted bug"]
        return {"userId": user_id, "items": []}

    def title_or_prompt(self, q, k=10, mode="auto"):
        self.calls.append(q)
        return {"query": q, "mode": mode, "items": []}


@pytest.fixture
def stub_client():
    svc = StubService()
    with TestClient(create_app(service=svc), raise_server_exceptions=False) as c:
        c.stub = svc
        yield c


def test_error_mapping(stub_client, caplog):
    assert stub_client.get("/user_recommend/7").status_code == 200
    r = stub_client.get("/user_recommend/404")
    assert r.status_code == 404 and r.json() == {"detail": "unknown user 404"}
    r = stub_client.get("/user_recommend/400")
    assert r.status_code == 400 and r.json() == {"detail": "the ratings file is unreadable"}
    with caplog.at_level("ERROR", logger="recutils.serving.app"):
        r = stub_client.get("/user_recommend/500")
    assert r.status_code == 500 and r.json() == {"detail": "internal error"}
    assert "planted bug" not in r.text and "Traceback" not in r.text
    assert any(x.exc_info and x.exc_info[0] is KeyError for x in caplog.records)
    assert stub_client.get("/user_recommend/abc").status_code == 422


def test_a_bug_raises_in_tests_that_want_it():
    with TestClient(create_app(service=StubService())) as c, pytest.raises(KeyError, match="planted bug"):
        c.get("/user_recommend/500")


@pytest.mark.parametrize("params,status,query", [
    ({"q": "heat"}, 200, "heat"),
    ({"input_text": "heat"}, 200, "heat"),
    ({"q": "heat", "input_text": "heat"}, 200, "heat"),
    ({"q": ""}, 200, ""),  # the real service answers 400 "empty"
    ({"q": "heat", "input_text": "alien"}, 400, None),
    ({}, 400, None),
])
def test_q_and_input_text(stub_client, params, status, query):
    r = stub_client.get("/title-or-prompt", params=params)
    assert r.status_code == status
    if status == 200:
        assert r.json()["query"] == query
    else:
        assert isinstance(r.json()["detail"], str) and stub_client.stub.calls == []
