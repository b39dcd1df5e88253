"""`GET /api/stats` and `GET /api/stats/history`: the pool, what is cached and for whom."""

from __future__ import annotations

import asyncio

from aiohttp import web

from cacherr import keys
from cacherr.api.envelope import ok
from cacherr.api.query import choice_param
from cacherr.claims.model import PERSONAL_SOURCES
from cacherr.claims.queries import cached_by_source, cached_by_user, unclaimed
from cacherr.files.queries import cached_media
from cacherr.usage import RANGES_S, disks_spared, history, measure


async def stats(request: web.Request) -> web.Response:
    """Cache used of its limit (statvfs of the pool), files and bytes by source and by user."""
    app = request.app
    db, settings = app[keys.DB], app[keys.CONFIG].current
    usage = await measure(db, settings)
    spared = await asyncio.to_thread(disks_spared, settings, await cached_media(db))
    files, size = await unclaimed(db)
    return ok(
        {
            "usage": usage.data,
            "by_source": [
                {"source": s.key, "files": s.files, "bytes": s.bytes}
                for s in await cached_by_source(db)
            ],
            "by_user": [
                {"user_id": s.key, "user": s.name, "files": s.files, "bytes": s.bytes}
                for s in await cached_by_user(db, PERSONAL_SOURCES)
            ],
            "unclaimed": {"files": files, "bytes": size},
            "disks_spared": spared,
        }
    )


async def stats_history(request: web.Request) -> web.Response:
    """Cache usage over the last `range` (24h or 7d), one point every few minutes."""
    range_name = choice_param(request, "range", RANGES_S, "24h")
    points = await history(request.app[keys.DB], RANGES_S[range_name], keys.now(request.app))
    return ok({"range": range_name, "points": points})
