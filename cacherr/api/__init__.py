"""The REST API under `/api/`."""

from __future__ import annotations

from aiohttp import web

from cacherr.api.activity import activity
from cacherr.api.auth import setup_auth_routes
from cacherr.api.claims import claims, simulate
from cacherr.api.files import cached_files, evict_file
from cacherr.api.health import health
from cacherr.api.lists import setup_list_routes
from cacherr.api.maintenance import maintenance_audit, maintenance_fix
from cacherr.api.notifications import test_notifications
from cacherr.api.openapi import openapi
from cacherr.api.operations import operations
from cacherr.api.pins import add_pin, list_pins, remove_pin
from cacherr.api.sessions import sessions
from cacherr.api.settings import get_settings, patch_settings
from cacherr.api.settings_tools import resolve, test_plex
from cacherr.api.stats import stats, stats_history
from cacherr.api.status import status, webhook_urls
from cacherr.api.sweep import plan, start_sweep, sweep_state
from cacherr.api.users import refresh_users, user_settings, users
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
    setup_list_routes(app)
    setup_page_routes(app)


def setup_page_routes(app: web.Application) -> None:
    """Register the routes the page reads and acts through."""
    add = app.router
    add.add_get("/api/status", status, name="status")
    add.add_post("/api/security/webhook-urls", webhook_urls, name="webhook_urls")
    add.add_get("/api/stats", stats, name="stats")
    add.add_get("/api/stats/history", stats_history, name="stats_history")
    add.add_get("/api/operations", operations, name="operations")
    add.add_get("/api/files", cached_files, name="files")
    add.add_post("/api/files/evict", evict_file, name="evict_file")
    add.add_get("/api/claims", claims, name="claims")
    add.add_get("/api/claims/simulate", simulate, name="claims_simulate")
    add.add_get("/api/users", users, name="users")
    add.add_post("/api/users/refresh", refresh_users, name="users_refresh")
    add.add_put("/api/users/{name}/settings", user_settings, name="user_settings")
    add.add_get("/api/settings", get_settings, name="settings")
    add.add_patch("/api/settings", patch_settings, name="settings_patch")
    add.add_get("/api/settings/resolve", resolve, name="settings_resolve")
    add.add_post("/api/settings/plex/test", test_plex, name="settings_plex_test")
    add.add_get("/api/activity", activity, name="activity")
    add.add_get("/api/maintenance/audit", maintenance_audit, name="maintenance_audit")
    add.add_post("/api/maintenance/fix", maintenance_fix, name="maintenance_fix")
    setup_reactor_routes(app)


def setup_reactor_routes(app: web.Application) -> None:
    """Register the sweep and pin routes."""
    add = app.router
    add.add_post("/api/sweep", start_sweep, name="sweep_start")
    add.add_get("/api/sweep", sweep_state, name="sweep_state")
    add.add_get("/api/plan", plan, name="plan")
    add.add_get("/api/pins", list_pins, name="pins")
    add.add_post("/api/pins", add_pin, name="pins_add")
    add.add_delete("/api/pins/{rating_key}", remove_pin, name="pins_remove")
