"""`GET /api/stats` and `GET /api/stats/history`: the pool, what is cached and for whom."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from cacherr import keys
from cacherr.api.envelope import ok
from cacherr.api.query import choice_param
from cacherr.claims.model import PERSONAL_SOURCES
from cacherr.db import Database
from cacherr.usage import RANGES_S, disks_spared, history, measure


async def _by_source(db: Database) -> list[dict[str, Any]]:
    rows = await db.fetchall(
        "SELECT c.source, COUNT(DISTINCT m.id), COALESCE(SUM(m.size_bytes), 0) FROM"
        " (SELECT DISTINCT plex_path, source FROM claims) c"
        " JOIN managed_files m ON m.plex_path = c.plex_path AND m.parent_id IS NULL"
        " GROUP BY c.source ORDER BY 3 DESC"
    )
    return [{"source": r[0], "files": int(r[1]), "bytes": int(r[2])} for r in rows]


async def _by_user(db: Database) -> list[dict[str, Any]]:
    marks = ",".join("?" * len(PERSONAL_SOURCES))
    rows = await db.fetchall(
        "SELECT c.user_id, COALESCE(NULLIF(u.username, ''), u.title, c.user_id),"
        " COUNT(DISTINCT m.id), COALESCE(SUM(m.size_bytes), 0) FROM"
        f" (SELECT DISTINCT plex_path, user_id FROM claims WHERE source IN ({marks})"
        "   AND user_id != '') c"
        " JOIN managed_files m ON m.plex_path = c.plex_path AND m.parent_id IS NULL"
        " LEFT JOIN users u ON u.id = c.user_id"
        " GROUP BY c.user_id ORDER BY 4 DESC",
        sorted(PERSONAL_SOURCES),
    )
    return [{"user_id": r[0], "user": r[1], "files": int(r[2]), "bytes": int(r[3])} for r in rows]


async def _unclaimed(db: Database) -> dict[str, int]:
    row = await db.fetchone(
        "SELECT COUNT(*), COALESCE(SUM(size_bytes), 0) FROM managed_files m"
        " WHERE parent_id IS NULL AND NOT EXISTS"
        " (SELECT 1 FROM claims c WHERE c.plex_path = m.plex_path)"
    )
    assert row is not None
    return {"files": int(row[0]), "bytes": int(row[1])}


async def stats(request: web.Request) -> web.Response:
    """Cache used of its limit (statvfs of the pool), files and bytes by source and by user."""
    app = request.app
    db, settings = app[keys.DB], app[keys.CONFIG].current
    usage = await measure(db, settings)
    rows = await db.fetchall(
        "SELECT mapping, rel_path FROM managed_files WHERE parent_id IS NULL AND state = 'cached'"
    )
    files = [(str(r[0]), str(r[1])) for r in rows]
    spared = await asyncio.to_thread(disks_spared, settings, files)
    return ok(
        {
            "usage": usage.data,
            "by_source": await _by_source(db),
            "by_user": await _by_user(db),
            "unclaimed": await _unclaimed(db),
            "disks_spared": spared,
        }
    )


async def stats_history(request: web.Request) -> web.Response:
    """Cache usage over the last `range` (24h or 7d), one point every few minutes."""
    range_name = choice_param(request, "range", RANGES_S, "24h")
    points = await history(request.app[keys.DB], RANGES_S[range_name], keys.now())
    return ok({"range": range_name, "points": points})
