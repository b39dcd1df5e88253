"""`GET /api/claims` and `GET /api/claims/simulate`: who wants what, and what would make room."""

from __future__ import annotations

from aiohttp import web

from cacherr import keys
from cacherr.api.envelope import ok
from cacherr.api.files import claim_dict, user_names
from cacherr.api.query import choice_param, int_param, page, page_params
from cacherr.claims import SOURCES, ClaimStore
from cacherr.claims.priority import SOURCE_WEIGHT, USER_WEIGHT, live_priority
from cacherr.errors import BadRequest
from cacherr.files.queries import cached_media_paths
from cacherr.planner import Index, Space, simulate_eviction
from cacherr.usage import measure

DEFAULT_SIMULATED_PRIORITY = SOURCE_WEIGHT["next_up"] + USER_WEIGHT["main"]


async def claims(request: web.Request) -> web.Response:
    """Claims by live priority, highest first, with the weights; filter `source`, `user`.

    Each claim says whether its file is on the cache yet.
    """
    limit, offset = page_params(request, default_limit=100)
    source = choice_param(request, "source", ("", *SOURCES), "")
    user = request.query.get("user", "")
    db, now = request.app[keys.DB], keys.now(request.app)
    names = await user_names(request.app[keys.PLEX_USERS])
    cached = await cached_media_paths(db)
    found = [
        c
        for c in await ClaimStore(db).all()
        if (not source or c.source == source) and (not user or c.user_id == user)
    ]
    found.sort(key=lambda c: live_priority(c, now), reverse=True)
    items = [
        {
            **claim_dict(c, names),
            "path": c.plex_path,
            "live_priority": round(live_priority(c, now), 1),
            "cached": c.plex_path in cached,
            "expired": c.expired(now),
        }
        for c in found[offset : offset + limit]
    ]
    return ok(
        {
            **page(list(items), len(found), limit, offset),
            "weights": {"source": SOURCE_WEIGHT, "user_kind": USER_WEIGHT},
        }
    )


async def simulate(request: web.Request) -> web.Response:
    """What would go back to the array to make room for a file of `size_bytes` at `priority`.

    Nothing is moved. `priority` defaults to a main user's next episode.
    """
    size_bytes = int_param(request, "size_bytes", -1, lo=-1)
    if size_bytes < 1:
        raise BadRequest("size_bytes is required: the size of the file to make room for")
    raw_priority = request.query.get("priority")
    try:
        priority = float(raw_priority) if raw_priority else DEFAULT_SIMULATED_PRIORITY
    except ValueError:
        raise BadRequest("priority must be a number") from None
    app = request.app
    db, settings, now = app[keys.DB], app[keys.CONFIG].current, keys.now(app)
    store = ClaimStore(db)
    index = Index.build(await store.all(), await store.managed())
    usage = await measure(db, settings)
    space = Space.from_config(
        settings.cache,
        total_bytes=usage.total_bytes,
        free_bytes=usage.free_bytes,
        used_bytes=usage.used_bytes,
    )
    poller = app.get(keys.SESSION_POLLER)
    active = poller.active_paths() if poller is not None else frozenset()
    preview = simulate_eviction(index, size_bytes, priority, space=space, active=active, now=now)
    return ok(
        {
            "size_bytes": size_bytes,
            "priority": priority,
            "fits": preview.fits,
            "freed_bytes": preview.freed_bytes,
            "missing_bytes": preview.missing_bytes,
            "evicted": [
                {
                    "path": a.plex_path,
                    "size_bytes": a.size_bytes,
                    "priority": None if a.priority is None else round(a.priority, 1),
                    "reason": a.reason,
                }
                for a in preview.files
            ],
            "space": {
                "used_bytes": usage.used_bytes,
                "limit_bytes": space.limit_bytes,
                "threshold_bytes": space.threshold_bytes,
                "free_bytes": usage.free_bytes,
            },
        }
    )
