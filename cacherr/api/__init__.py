"""The REST API under `/api/`."""

from __future__ import annotations

from aiohttp import web

from cacherr.api.auth import setup_auth_routes
from cacherr.api.health import health
from cacherr.api.notifications import test_notifications
from cacherr.api.openapi import openapi
from cacherr.api.sessions import sessions
from cacherr.api.webhooks import plex_webhook, tautulli_webhook


def setup_routes(app: web.Application) -> None:
    """Register every `/api/` route."""
    app.router.add_get("/api/health", health, name="health")
    app.router.add_get("/api/openapi.json", openapi, name="openapi")
    setup_auth_routes(app)
    app.router.add_post("/api/webhooks/plex", plex_webhook, name="webhook_plex")
    app.router.add_post("/api/webhooks/tautulli", tautulli_webhook, name="webhook_tautulli")
    app.router.add_get("/api/sessions", sessions, name="sessions")
    app.router.add_post("/api/notifications/test", test_notifications, name="notifications_test")
