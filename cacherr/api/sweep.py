"""`POST /api/sweep`, `GET /api/sweep` and `GET /api/plan`: the reconcile sweep on demand."""

from __future__ import annotations

from aiohttp import web

from cacherr import keys
from cacherr.api.envelope import ok
from cacherr.errors import Conflict, Unavailable
from cacherr.reactor import Sweeper

_TRUE = ("1", "true", "yes")


def _sweeper(request: web.Request) -> Sweeper:
    sweeper = request.app.get(keys.SWEEPER)
    if sweeper is None:
        raise Unavailable("the sweep is not running")
    return sweeper


async def start_sweep(request: web.Request) -> web.Response:
    """Start a sweep now (202), or with `?dry_run=1` answer the plan it would carry out.

    A dry run reads Plex and the disks but writes nothing and moves no file; its `plan` lists
    the actions in order, each with its reason. A second sweep while one runs is refused (409).
    """
    sweeper = _sweeper(request)
    if request.query.get("dry_run", "").lower() in _TRUE:
        result = await sweeper.sweep(dry_run=True, fresh=True)
        return ok(result.as_dict(), message=f"{len(result.plan)} planned actions (dry run)")
    if not sweeper.trigger():
        raise Conflict("a sweep is already running")
    return ok({"state": "running"}, message="sweep started", status=202)


async def sweep_state(request: web.Request) -> web.Response:
    """Whether a sweep runs, the last sweep's result and when the next one is due."""
    return ok(_sweeper(request).state())


async def plan(request: web.Request) -> web.Response:
    """The ordered plan a sweep would carry out now, with a reason per action (a dry run).

    Planned from the latest known on-deck and watchlists (no call to Plex or plex.tv);
    `?refresh=1` gathers them afresh first, as a sweep does.
    """
    fresh = request.query.get("refresh", "").lower() in _TRUE
    result = await _sweeper(request).sweep(dry_run=True, fresh=fresh)
    return ok(result.plan, message=f"{len(result.plan)} planned actions (dry run)")
