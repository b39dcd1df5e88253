"""`GET /api/health`: open, cheap, what a Docker HEALTHCHECK and a person want to know."""

from __future__ import annotations

from aiohttp import web

from cacherr import __version__, keys
from cacherr.api.envelope import ok


async def health(request: web.Request) -> web.Response:
    """Version, uptime, database, configuration file and Plex state."""
    app = request.app
    db = app[keys.DB]
    answers = await db.ping()
    db_ok = answers and db.write_problem is None
    if not answers:
        db_message = "cacherr.db does not answer"
    elif db.write_problem is not None:
        db_message = f"cacherr.db cannot be written ({db.write_problem}): nothing is cached"
    else:
        db_message = "cacherr.db in order"
    problem = app[keys.CONFIG].problem
    config = {"ok": problem is None, "message": f"cacherr.json: edit not applied: {problem}"
              if problem else "cacherr.json in force"}  # fmt: skip
    return ok(
        {
            "status": "ok" if db_ok and problem is None else "degraded",
            "config": config,
            "version": __version__,
            "uptime_s": round(keys.now(app) - app[keys.STARTED_AT], 3),
            "database": {"ok": db_ok, "message": db_message},
            "plex": app[keys.PLEX_STATUS].as_dict(),
        }
    )
