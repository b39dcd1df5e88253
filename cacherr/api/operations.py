"""`GET /api/operations`: what runs now (live progress) and the journal's history."""

from __future__ import annotations

import posixpath
from typing import Any

from aiohttp import web

from cacherr import keys
from cacherr.api.envelope import ok
from cacherr.api.query import choice_param, page, page_params
from cacherr.files.journal_queries import history

STATES = ("running", "done", "failed", "cancelled", "rolled_back")


def _active(app: web.Application) -> list[dict[str, Any]]:
    live = app[keys.LIVE_OPERATIONS].active()
    running = {op["id"] for op in live}
    executor = app.get(keys.EXECUTOR)
    queued: list[dict[str, Any]] = []
    if executor is not None:
        for op in executor.operations():
            if op.id not in running:
                queued.append({**op.as_dict(), "bytes_done": 0, "size": None})
    return live + queued


async def operations(request: web.Request) -> web.Response:
    """Running and queued operations with live progress, then the history, newest first,
    and the concurrency and bandwidth limits in force.

    Query: `limit`, `offset` (history paging), `state` and `kind` (history filters).
    """
    limit, offset = page_params(request)
    state = choice_param(request, "state", ("", *STATES), "")
    kind = choice_param(request, "kind", ("", "cache", "restore"), "")
    total, rows = await history(
        request.app[keys.DB], state=state, kind=kind, limit=limit, offset=offset
    )
    prefixes = {m.name: m.plex for m in request.app[keys.CONFIG].current.paths.mappings}
    items = [
        {
            "id": r["id"],
            "kind": r["kind"],
            "path": posixpath.join(prefixes[r["mapping"]], r["rel_path"])
            if r["mapping"] in prefixes
            else r["rel_path"],
            "mapping": r["mapping"],
            "step": r["step"],
            "state": r["state"],
            "size_bytes": r["size_bytes"],
            "bytes_done": r["bytes_done"],
            "reason": r["reason"],
            "error": r["error"],
            "created_at": r["created_at"],
            "finished_at": r["finished_at"],
            "duration_s": round(r["finished_at"] - r["created_at"], 3)
            if r["finished_at"]
            else None,
        }
        for r in rows
    ]
    executor = request.app.get(keys.EXECUTOR)
    limits = executor.limits() if executor is not None else None  # shown above "Moving now"
    return ok(
        {
            "active": _active(request.app),
            "history": page(list(items), total, limit, offset),
            "limits": limits,
        }
    )
