"""Serving: a FastAPI app (``/user_recommend/{user_id}``, ``/title-or-prompt``) over the
project's models and search. Run with ``python -m recutils.serving`` or ``make serve``."""

from .service import RecService, ServiceConfig

__all__ = ["RecService", "ServiceConfig", "create_app"]


def create_app(*args, **kwargs):
    from .app import create_app as _create

    return _create(*args, **kwargs)
