"""FastAPI app: the recsys app's two endpoints over the project's models and search.

- ``GET /user_recommend/{user_id}?k=10`` — top-k unseen movies for a user;
- ``GET /title-or-prompt?q=...&k=10[&mode=auto|title|prompt]`` — a title gives similar movies,
  a description gives prompt-search results;
- ``GET /health`` — configuration and sizes.

User mistakes give a JSON ``{"detail": ...}`` with status 400 (bad input) or 404 (unknown
user / title), never a traceback.
"""

from __future__ import annotations

from fastapi import FastAPI, Query
from fastapi.responses import JSONResponse

from ..errors import RecutilsError
from .service import RecService, ServiceConfig


def create_app(service: RecService | None = None, config: ServiceConfig | None = None, data_dir=None) -> FastAPI:
    svc = service or RecService(config, data_dir)
    app = FastAPI(title="recsys-notebooks service", version="0.1.0")
    app.state.service = svc

    @app.exception_handler(RecutilsError)
    async def _bad_input(_req, exc: RecutilsError):
        return JSONResponse(status_code=400, content={"detail": str(exc)})

    @app.exception_handler(LookupError)
    async def _not_found(_req, exc: LookupError):
        return JSONResponse(status_code=404, content={"detail": str(exc.args[0] if exc.args else exc)})

    @app.get("/health")
    def health():
        return svc.info()

    @app.get("/user_recommend/{user_id}")
    def user_recommend(user_id: int, k: int = Query(10, description="number of movies")):
        return svc.user_recommend(user_id, k)

    @app.get("/title-or-prompt")
    def title_or_prompt(q: str = Query(..., description="a movie title or a description"),
                        k: int = Query(10), mode: str = Query("auto")):
        return svc.title_or_prompt(q, k, mode)

    return app
