"""`GET /api/activity`: the activity log, newest first."""

from __future__ import annotations

from aiohttp import web

from cacherr import keys
from cacherr.api.envelope import ok
from cacherr.api.query import choice_param, int_param

LEVELS = ("", "debug", "info", "warning", "error", "critical")


async def activity(request: web.Request) -> web.Response:
    """Notable events, newest first: `limit`, `before` (an id, to page back), `level`."""
    limit = int_param(request, "limit", 100, lo=1, hi=500)
    before = int_param(request, "before", 0)
    level = choice_param(request, "level", LEVELS, "")
    items = await request.app[keys.ACTIVITY].recent(
        limit=limit, before_id=before or None, level=level or None
    )
    return ok({"items": items, "next_before": items[-1]["id"] if len(items) == limit else None})
