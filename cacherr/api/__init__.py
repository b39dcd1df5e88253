"""The REST API under `/api/`."""

from __future__ import annotations

from aiohttp import web

from cacherr.api.auth import setup_auth_routes
from cacherr.api.health import health


def setup_routes(app: web.Application) -> None:
    """Register every `/api/` route."""
    app.router.add_get("/api/health", health, name="health")
    setup_auth_routes(app)
