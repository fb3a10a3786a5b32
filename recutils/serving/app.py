"""FastAPI app: the recsys app's two endpoints over the project's models and search, and a demo page.

- ``GET /`` — the demo page (plain HTML + a little JavaScript, ``static/index.html``);
- ``GET /user_recommend/{user_id}?k=10[&model=NAME]`` — top-k unseen movies for a user from one
  of the models loaded at start-up (default: the first of ``--models``);
- ``GET /user_history/{user_id}?k=10`` — the user's highest-rated movies (for the demo page);
- ``GET /title-or-prompt?q=...&k=10[&mode=auto|title|prompt]`` — a title gives similar movies,
  a description gives prompt-search results (``input_text=`` is accepted for ``q``, as the
  recsys app's API named it);
- ``GET /health`` — what is loaded, from which artifact, each model's study-protocol metrics.

Errors are JSON ``{"detail": ...}``, never a traceback: 404 for an unknown user / title / movie
(:class:`~recutils.errors.NotFoundError`), 400 for any other user mistake
(:class:`~recutils.errors.RecutilsError`, e.g. a model that is not loaded: the message names
the choices, or a repeated parameter), 422 for a parameter of the wrong type (ids and ``k`` are
plain digits: ``1_0``, ``+1``, ``00001``, ``10.0`` are refused), 414 / 431 for an oversized
request line / head (:mod:`.edge`), and 500 ``{"detail": "internal error"}`` for anything else
(a bug; logged with its traceback). There are no redirects (``/health/`` is a 404).

``/docs`` is a plain page listing the endpoints, built from ``/openapi.json`` with nothing
loaded from a CDN (FastAPI's Swagger UI fetches its scripts from one, so it is blank offline;
no installed package ships them). ``/openapi.json`` is the full schema.

Lookups (``user_recommend``, ``user_history``, ``health``) run on the event loop — they take
microseconds; prompt search and the fuzzy title match run in the thread pool, so a slow query
never holds up the lookups. Responses are serialised with orjson.
"""

from __future__ import annotations

import html
import logging
from pathlib import Path

import orjson
from fastapi import FastAPI, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

from ..errors import NotFoundError, RecutilsError
from .edge import BadParameter, SingleValuedQuery, whole_number
from .service import RecService, ServiceConfig

log = logging.getLogger(__name__)
PAGE = Path(__file__).with_name("static") / "index.html"


class FastJSON(JSONResponse):
    """``JSONResponse`` rendered by orjson (several times faster than ``json.dumps``)."""

    def render(self, content) -> bytes:
        return orjson.dumps(content)


def query_text(q: str | None, input_text: str | None) -> str:
    """The query of ``/title-or-prompt``: ``q``, or its alias ``input_text``."""
    if q is None and input_text is None:
        raise RecutilsError("missing query: pass q=<a movie title or a description> (or input_text=...)")
    if q is not None and input_text is not None and q != input_text:
        raise RecutilsError("q and input_text are the same parameter: pass one of them (or the same text twice)")
    return q if q is not None else input_text


def create_app(service: RecService | None = None, config: ServiceConfig | None = None, data_dir=None,
               policy=None) -> FastAPI:
    svc = service or RecService(config, data_dir, policy=policy)
    app = FastAPI(title="recsys-notebooks service", version="0.2.0", default_response_class=FastJSON,
                  docs_url=None, redoc_url=None, redirect_slashes=False)
    app.add_middleware(SingleValuedQuery)
    app.state.service = svc

    @app.exception_handler(BadParameter)
    async def _bad_parameter(_req, exc: BadParameter):
        return JSONResponse(status_code=422, content={"detail": str(exc)})

    @app.exception_handler(NotFoundError)
    async def _not_found(_req, exc: NotFoundError):
        return JSONResponse(status_code=404, content={"detail": str(exc)})

    @app.exception_handler(RecutilsError)
    async def _bad_input(_req, exc: RecutilsError):
        return JSONResponse(status_code=400, content={"detail": str(exc)})

    @app.exception_handler(Exception)
    async def _internal(req, exc: Exception):
        log.exception("internal error on %s %s", req.method, req.url.path, exc_info=exc)
        return JSONResponse(status_code=500, content={"detail": "internal error"})

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(PAGE, media_type="text/html")

    @app.get("/docs", include_in_schema=False)
    async def docs():
        return HTMLResponse(docs_page(app.openapi()))

    @app.get("/health")
    async def health():
        return FastJSON(svc.info())

    @app.get("/user_recommend/{user_id}")
    async def user_recommend(user_id: str, k: str = Query("10", description="number of movies (digits)"),
                             model: str | None = Query(None, description="one of the loaded models (see /health); "
                                                                         "default: the service's default model")):
        uid, k = whole_number("user_id", user_id), whole_number("k", k)
        return FastJSON(svc.user_recommend(uid, k, model))

    @app.get("/user_history/{user_id}")
    async def user_history(user_id: str, k: str = Query("10", description="number of movies (digits)")):
        return FastJSON(svc.user_history(whole_number("user_id", user_id), whole_number("k", k)))

    @app.get("/title-or-prompt")
    async def title_or_prompt(q: str | None = Query(None, description="a movie title or a description"),
                              input_text: str | None = Query(None, description="the same as q (the recsys app's name)"),
                              k: str = Query("10", description="number of movies (digits)"), mode: str = Query("auto")):
        k = whole_number("k", k)
        text = query_text(q, input_text)
        return FastJSON(await run_in_threadpool(svc.title_or_prompt, text, k, mode))

    return app


def docs_page(schema: dict) -> str:
    """The endpoints and their parameters as one self-contained HTML page (no scripts, no CDN)."""
    e = html.escape
    rows = []
    for path, ops in schema.get("paths", {}).items():
        for method, op in ops.items():
            params = "".join(f"<li><code>{e(p['name'])}</code> ({e(p.get('in', ''))}) {e(p.get('description', ''))}</li>"
                             for p in op.get("parameters", []))
            rows.append(f"<h2><code>{e(method.upper())} {e(path)}</code></h2><p>{e(op.get('summary', ''))}</p>"
                        f"<ul>{params}</ul>")
    return ("<!doctype html><html><head><meta charset='utf-8'><title>API: " + e(schema.get("info", {}).get("title", ""))
            + "</title></head><body><h1>" + e(schema.get("info", {}).get("title", "")) + "</h1>"
            "<p>Endpoints of this service; the full schema is <a href='/openapi.json'>/openapi.json</a>. "
            "(FastAPI's Swagger UI loads its scripts from a CDN, so it is replaced by this page, which works offline.)"
            "</p>" + "".join(rows) + "</body></html>")
