"""Issue 21: the HTTP edge. Oversized request lines / heads are 414 / 431 (and cost the server
only the limit), no host-based redirects, ids and ``k`` are plain digits (422 otherwise), a
repeated parameter is 400, ``/docs`` works offline. A stub service keeps it fast; the size
limits run against real uvicorn on loopback."""

import socket
import threading
import time

import pytest
from fastapi.testclient import TestClient

from recutils.serving.app import create_app
from recutils.serving.edge import MAX_HEAD, MAX_REQUEST_LINE, http_protocol, whole_number


class Stub:
    def info(self):
        return {"status": "ok"}

    def user_recommend(self, user_id, k=10, model=None):
        return {"userId": user_id, "k": k, "model": model, "items": []}

    def user_history(self, user_id, k=10):
        return {"userId": user_id, "k": k, "items": []}

    def title_or_prompt(self, q, k=10, mode="auto"):
        return {"query": q, "k": k, "mode": mode, "items": []}


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(service=Stub()), raise_server_exceptions=False) as c:
        yield c


@pytest.mark.parametrize("path", ["/user_recommend/{v}", "/user_history/{v}", "/user_recommend/1?k={v}",
                                  "/title-or-prompt?q=heat&k={v}"])
@pytest.mark.parametrize("v", ["1_0", "+1", "00001", "1.0", "10.0", "-1", "1e3", " 1", "abc", "",
                               "9" * 19])
def test_ids_and_k_are_plain_digits(client, path, v):
    if v == "" and path.endswith("{v}") and "?" not in path:
        pytest.skip("an empty path segment is another route (404)")
    r = client.get(path.format(v=v.replace(" ", "%20").replace("+", "%2B")))
    assert r.status_code == 422, r.text
    name = "k" if "k={v}" in path else "user_id"
    assert r.json()["detail"].startswith(f"{name} must be a whole number written in digits (e.g. 42), got ")


def test_plain_digits_are_accepted(client):
    assert client.get("/user_recommend/42?k=10").json() == {"userId": 42, "k": 10, "model": None, "items": []}
    assert client.get("/user_history/0").json()["userId"] == 0
    assert whole_number("k", "100") == 100


@pytest.mark.parametrize("query,name,n", [("k=5&k=10", "k", 2), ("model=a&model=b&model=c", "model", 3),
                                          ("q=heat&q=alien", "q", 2), ("q=heat&k=1&mode=title&mode=auto", "mode", 2)])
def test_repeated_parameters_are_400(client, query, name, n):
    path = "/title-or-prompt" if "q=" in query else "/user_recommend/1"
    r = client.get(f"{path}?{query}")
    assert r.status_code == 400 and r.json() == {"detail": f"parameter {name!r} is given {n} times: pass it once"}


def test_no_host_based_redirects(client):
    r = client.get("/health/", headers={"Host": "evil.example"}, follow_redirects=False)
    assert r.status_code == 404 and "location" not in r.headers
    assert client.get("/health").status_code == 200


def test_docs_page_is_self_contained(client):
    r = client.get("/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "/user_recommend/{user_id}" in r.text and "/openapi.json" in r.text
    assert "http://" not in r.text and "https://" not in r.text and "<script" not in r.text
    assert client.get("/redoc").status_code == 404 and client.get("/openapi.json").status_code == 200


# --- real uvicorn on loopback: the head-size limits ----------------------------------------------
@pytest.fixture(scope="module")
def server():
    import uvicorn

    config = uvicorn.Config(create_app(service=Stub()), host="127.0.0.1", port=0, http=http_protocol(),
                            log_level="warning", access_log=False)
    srv = uvicorn.Server(config)
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    for _ in range(200):
        if srv.started:
            break
        time.sleep(0.05)
    port = srv.servers[0].sockets[0].getsockname()[1]
    yield port
    srv.should_exit = True
    t.join(10)


def _raw(port, head: bytes, chunk: int = 1 << 16) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        try:
            for i in range(0, len(head), chunk):
                s.sendall(head[i:i + chunk])
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before the rest was sent: what we want
        data = b""
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                data += b
        except (ConnectionResetError, socket.timeout):
            pass
    return data


def test_normal_request_passes(server):
    r = _raw(server, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert r.startswith(b"HTTP/1.1 200 ") and r.endswith(b'{"status":"ok"}')


@pytest.mark.parametrize("chunk", [1 << 12, 1 << 16, 1 << 21], ids=["4k_writes", "64k_writes", "one_write"])
def test_one_megabyte_header_is_431(server, chunk):
    t0 = time.perf_counter()
    r = _raw(server, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n", chunk)
    assert r.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"), r[:80]
    assert r.endswith(b'{"detail":"request headers larger than %d bytes"}' % MAX_HEAD)
    assert time.perf_counter() - t0 < 5


def test_many_headers_just_over_the_limit_are_431(server):
    headers = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 1000) for i in range(70))
    r = _raw(server, b"GET /health HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
    assert r.startswith(b"HTTP/1.1 431 "), r[:80]


@pytest.mark.parametrize("chunk", [1 << 12, 1 << 16, 1 << 21], ids=["4k_writes", "64k_writes", "one_write"])
@pytest.mark.parametrize("size", [MAX_REQUEST_LINE + 10, 1 << 20])
def test_long_request_line_is_414(server, size, chunk):
    r = _raw(server, b"GET /title-or-prompt?q=" + b"a" * size + b" HTTP/1.1\r\nHost: x\r\n\r\n", chunk)
    assert r.startswith(b"HTTP/1.1 414 URI Too Long\r\n"), r[:80]
    assert r.endswith(b'{"detail":"request line longer than %d bytes"}' % MAX_REQUEST_LINE)


def test_server_still_answers_after_refusals(server):
    _raw(server, b"GET /health HTTP/1.1\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n")
    r = _raw(server, b"GET /user_recommend/1_0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert r.startswith(b"HTTP/1.1 422 ")
