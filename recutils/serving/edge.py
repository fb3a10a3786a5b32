"""The HTTP edge: what reaches the service is bounded and unambiguous.

* **Head size** — :class:`LimitedHttpTools` (uvicorn's httptools protocol with limits): a
  request line over :data:`MAX_REQUEST_LINE` bytes is answered ``414``, a head (request line +
  headers) over :data:`MAX_HEAD` bytes ``431``, and the connection is closed as soon as the
  limit is passed — a 64 MB header costs the server 64 KiB, not 64 MB.
* **Query strings** — :class:`SingleValuedQuery`: every parameter of this API takes one value,
  so a repeated one (``?k=5&k=10``) is ``400`` instead of silently taking the last.
* **Whole numbers** — :func:`whole_number`: user ids and ``k`` are plain decimal digits;
  ``1_0``, ``+1``, ``00001``, ``1.0``, ``10.0`` are ``422`` (Python's ``int()`` and
  pydantic accept several of those).

Host-based redirects are off (``redirect_slashes=False`` in :mod:`.app`): ``/health/`` is a
404, never a redirect to whatever ``Host`` the client sent.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

import orjson

from ..errors import RecutilsError

MAX_REQUEST_LINE = 8 * 1024
MAX_HEAD = 64 * 1024
_WHOLE = re.compile(r"(0|[1-9][0-9]{0,17})")


class BadParameter(RecutilsError):
    """A parameter that is not what the API takes (answered 422)."""


def whole_number(name: str, text) -> int:
    """``text`` as a whole number written in plain digits (no sign, no leading zero, no ``_``, no ``.``)."""
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    if not isinstance(text, str) or not _WHOLE.fullmatch(text):
        shown = text if not isinstance(text, str) or len(text) <= 40 else text[:37] + "..."
        raise BadParameter(f"{name} must be a whole number written in digits (e.g. 42), got {shown!r}")
    return int(text)


class SingleValuedQuery:
    """ASGI middleware: a query parameter given more than once is a 400 naming it."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope.get("query_string"):
            try:
                pairs = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
            except ValueError:
                pairs = []
            seen: dict[str, int] = {}
            for k, _ in pairs:
                seen[k] = seen.get(k, 0) + 1
            repeated = [k for k, n in seen.items() if n > 1]
            if repeated:
                k = repeated[0]
                body = orjson.dumps({"detail": f"parameter {k!r} is given {seen[k]} times: pass it once"})
                await send({"type": "http.response.start", "status": 400,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def _limited_protocol():
    """uvicorn's httptools protocol with head-size limits (imported only when serving)."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class LimitedHttpTools(HttpToolsProtocol):
        max_request_line = MAX_REQUEST_LINE
        max_head = MAX_HEAD

        def connection_made(self, transport):
            super().connection_made(transport)
            self._in_head, self._head_bytes, self._head_start, self._refused = True, 0, b"", False

        def data_received(self, data: bytes) -> None:
            if self._refused:
                return
            if self._in_head:
                self._head_bytes += len(data)
                if len(self._head_start) <= self.max_request_line:  # enough to see where the request line ends
                    self._head_start += data[: self.max_request_line + 2 - len(self._head_start)]
                if self._head_bytes > self.max_head + self.max_request_line:  # still no end of head: stop reading
                    self._refuse(431 if b"\n" in self._head_start else 414)
                    return
            super().data_received(data)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._in_head = True

        def on_headers_complete(self) -> None:
            self._in_head = False
            if len(self.url) > self.max_request_line:
                self._refuse(414)
                return
            if sum(len(n) + len(v) + 4 for n, v in self.headers) + len(self.url) > self.max_head:
                self._refuse(431)
                return
            super().on_headers_complete()

        def on_body(self, body: bytes) -> None:
            if not self._refused:
                super().on_body(body)

        def on_message_complete(self) -> None:
            if self._refused:
                return
            super().on_message_complete()
            self._in_head, self._head_bytes, self._head_start = True, 0, b""

        def _refuse(self, status: int) -> None:
            self._refused = True
            what = ("request line longer than %d bytes" % self.max_request_line if status == 414
                    else "request headers larger than %d bytes" % self.max_head)
            body = orjson.dumps({"detail": what})
            reason = b"URI Too Long" if status == 414 else b"Request Header Fields Too Large"
            head = (b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
                    b"connection: close\r\n\r\n" % (status, reason, len(body)))
            self.logger.warning("refused a request: %s (%d)", what, status)
            self.transport.write(head + body)
            self.transport.close()

    return LimitedHttpTools


def http_protocol():
    """The protocol class for ``uvicorn.run(http=...)``."""
    return _limited_protocol()
