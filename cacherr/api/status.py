"""`GET /api/status`: what Cacherr is doing now, at a glance; the webhook URLs on request.

The webhook URLs carry the webhook secret, so they are never part of a GET: a person on the
page asks for them with `POST /api/security/webhook-urls`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web

from cacherr import __version__, keys
from cacherr.api.auth import principal
from cacherr.api.envelope import ok
from cacherr.api.plex_words import plex_card
from cacherr.errors import Conflict, Forbidden

AUTH_NONE_WARNING = (
    "Login is off (web.auth = none): anyone on the network can use Cacherr and change its "
    "settings. Turn it back on under Settings → Security."
)


async def _counts(request: web.Request) -> dict[str, int]:
    return await request.app[keys.GLANCE].counts()


def _sweep_state(app: web.Application) -> dict[str, Any]:
    # keys.SWEEP_STATE is the reactor's hook: a callable giving its sweep state, when wired.
    provider = app.get(keys.SWEEP_STATE)
    if provider is None:
        return {"state": "unavailable", "message": "the sweep is not running in this build"}
    return provider()


def _warnings(app: web.Application) -> list[dict[str, str]]:
    """What the page shows as banners: settings that leave Cacherr idle, and faults."""
    settings = app[keys.CONFIG].current
    found: list[tuple[str, str]] = []
    if settings.web.auth == "none":
        found.append(("auth_none", AUTH_NONE_WARNING))
    if not settings.paths.mappings:
        found.append(("no_mappings", "No path mapping is set: nothing can be cached."))
    if not settings.plex.url:
        found.append(("plex_not_configured", "Plex is not set up yet: enter its address and "
                      "token under Settings → Plex."))  # fmt: skip
    unwritable = app[keys.DB].write_problem
    if unwritable is not None:
        found.append(("database_unwritable",
                      f"Cacherr cannot write its database ({unwritable}), so nothing is cached "
                      "or restored. Free some space in the config folder (appdata)."))  # fmt: skip
    replaced = app[keys.DB].replaced
    if replaced is not None:
        found.append(("database_replaced",
                      f"cacherr.db was damaged and is kept as {replaced.name}; Cacherr started "
                      "an empty database. Run Maintenance → Audit to adopt the files already on "
                      "the cache."))  # fmt: skip
    engine = app.get(keys.CACHE_ENGINE)
    if engine is not None and engine.mover_problem is not None:
        found.append(("mover_exclusion_unwritable",
                      f"The mover exclusion file cannot be written ({engine.mover_problem}); "
                      "until it can, the mover may move newly cached files back to the "
                      "array."))  # fmt: skip
    return [{"code": code, "message": message} for code, message in found]


async def status(request: web.Request) -> web.Response:
    """Plex, the sweep, counts, running operations, sessions and warnings, at a glance."""
    app = request.app
    settings = app[keys.CONFIG].current
    poller = app.get(keys.SESSION_POLLER)
    live = app.get(keys.LIVE_OPERATIONS)
    return ok(
        {
            "version": __version__,
            "uptime_s": round(keys.now(app) - app[keys.STARTED_AT], 3),
            "plex": {
                **app[keys.PLEX_STATUS].as_dict(),
                **plex_card(app[keys.PLEX_STATUS], settings.plex.url),
            },
            "sweep": _sweep_state(app),
            "counts": await _counts(request),
            "operations_running": len(live.active()) if live is not None else 0,
            "sessions": len(poller.current()) if poller is not None else 0,
            "auth": {"mode": settings.web.auth, "username": settings.web.username},
            "warnings": _warnings(app),
            "webhooks": {
                "secret_set": settings.webhook.secret is not None,
                "urls": "POST /api/security/webhook-urls (from the page)",
            },
            "playback": _playback_state(app),
        }
    )


def _playback_state(app: web.Application) -> dict[str, object]:
    # The intake: events taken, repeats dropped, events from other Plex servers ignored, and
    # whether Plex's notification socket is connected (else the poller's timer is the trigger).
    socket = app.get(keys.PLEX_SOCKET)
    return {
        **app[keys.PLAYBACK].stats(),
        "notification_socket": socket.state() if socket is not None else None,
    }


async def webhook_urls(request: web.Request) -> web.Response:
    """The Plex and Tautulli webhook URLs, secret included, ready to copy (page only).

    Built from the address the page was opened with; a person on the page must ask for them,
    since they carry the webhook secret.
    """
    if principal(request).via == "api_key":
        raise Forbidden("this needs a logged-in session on the page, not the API key")
    secret = request.app[keys.CONFIG].current.webhook.secret
    if secret is None or not secret.get_secret_value():
        raise Conflict("no webhook secret is set yet; restart Cacherr to generate one")
    base = f"{request.scheme}://{request.host}"
    query = "?secret=" + quote(secret.get_secret_value(), safe="")
    return ok(
        {
            "plex": f"{base}/api/webhooks/plex{query}",
            "tautulli": f"{base}/api/webhooks/tautulli{query}",
        }
    )
