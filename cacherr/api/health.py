"""`GET /api/health`: open, cheap, what a Docker HEALTHCHECK and a person want to know."""

from __future__ import annotations

from aiohttp import web

from cacherr import __version__, keys
from cacherr.api.envelope import ok


async def health(request: web.Request) -> web.Response:
    """Version, uptime, database, configuration file and Plex state."""
    app = request.app
    db_ok = await app[keys.DB].ping()
    problem = app[keys.CONFIG].problem
    config = {"ok": problem is None, "message": f"cacherr.json: edit not applied: {problem}"
              if problem else "cacherr.json in force"}  # fmt: skip
    return ok(
        {
            "status": "ok" if db_ok and problem is None else "degraded",
            "config": config,
            "version": __version__,
            "uptime_s": round(keys.now() - app[keys.STARTED_AT], 3),
            "database": {"ok": db_ok},
            "plex": app[keys.PLEX_STATUS].as_dict(),
        }
    )
