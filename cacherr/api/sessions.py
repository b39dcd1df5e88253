"""`GET /api/sessions`: what is playing now, as the session poller last saw it."""

from __future__ import annotations

from aiohttp import web

from cacherr import keys
from cacherr.api.envelope import ok


async def sessions(request: web.Request) -> web.Response:
    """The current sessions, oldest first (empty while session polling is off)."""
    poller = request.app.get(keys.SESSION_POLLER)
    if poller is None:
        return ok([], message="session polling is off")
    return ok([s.as_dict() for s in poller.current()])
