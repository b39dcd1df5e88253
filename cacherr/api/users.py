"""`GET /api/users`, `POST /api/users/refresh`, `PUT /api/users/{name}/settings`."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

from aiohttp import web

from cacherr import keys
from cacherr.api.body import accepts, parse_body
from cacherr.api.envelope import ok
from cacherr.claims.queries import cached_by_user
from cacherr.config.models import UserOverride
from cacherr.errors import BadRequest, NotFound, Unavailable
from cacherr.plex.errors import PlexError
from cacherr.plex.users import PlexUser, effective_policy, is_active

MAX_NAME = 200


async def _cached_per_user(request: web.Request) -> dict[str, tuple[int, int]]:
    shares = await cached_by_user(request.app[keys.DB])
    return {s.key: (s.files, s.bytes) for s in shares}


def _user_dict(
    user: PlexUser, request: web.Request, cached: dict[str, tuple[int, int]]
) -> dict[str, Any]:
    settings = request.app[keys.CONFIG].current
    override = settings.users.overrides.get(user.name) or settings.users.overrides.get(user.title)
    files, size = cached.get(user.id, (0, 0))
    return {
        "id": user.id,
        "name": user.name,
        "username": user.username,
        "title": user.title,
        "kind": user.kind,
        "thumb": user.thumb,
        "last_active_at": user.last_active_at,
        "active": is_active(user, settings.users, keys.now(request.app)),
        "policy": asdict(effective_policy(user, settings.users, settings.cache)),
        "override": override.model_dump(exclude_none=True) if override is not None else {},
        "cached_files": files,
        "cached_bytes": size,
        "ondeck_source": asdict(request.app[keys.PLEX_USERS].deck_source(user)),
    }


async def users(request: web.Request) -> web.Response:
    """Known Plex users (main, home, shared) with their effective settings and override.

    `ondeck_source` says where each user's on-deck comes from (`token`, `database` or
    `none`), why, and what to do about it.
    """
    directory = request.app[keys.PLEX_USERS]
    cached = await _cached_per_user(request)
    return ok([_user_dict(u, request, cached) for u in await directory.all()])


async def refresh_users(request: web.Request) -> web.Response:
    """Ask plex.tv who uses the server now, and list them."""
    directory = request.app[keys.PLEX_USERS]
    try:
        found = await directory.refresh()
    except PlexError as exc:  # a Plex 401 is not the page's session ending
        raise Unavailable(f"Plex could not list the users: {exc.message}") from exc
    cached = await _cached_per_user(request)
    return ok(
        [_user_dict(u, request, cached) for u in found], message=f"{len(found)} users from Plex"
    )


@accepts(UserOverride)
async def user_settings(request: web.Request) -> web.Response:
    """Save one user's overrides (a field set to null falls back to the user type's default)."""
    name = request.match_info["name"]
    if not name.strip() or len(name) > MAX_NAME or not name.isprintable():
        raise BadRequest("the user name is empty, too long or holds control characters")
    known = {n for u in await request.app[keys.PLEX_USERS].all() for n in (u.name, u.title)}
    if name not in known:
        raise NotFound(
            f"Plex has no user named {name!r} on this server; refresh the users list "
            "(Users → Refresh) if they were added recently"
        )
    body = await parse_body(request, UserOverride)
    store = request.app[keys.CONFIG]
    prefix = f"users.overrides.{name}"
    if any(p == prefix or p.startswith(prefix + ".") for p in store.env_locked):
        raise BadRequest(f"the settings of {name} are set by environment variables")
    patch = {"users": {"overrides": {name: body.model_dump()}}}
    settings = await asyncio.to_thread(store.save, patch)
    saved = settings.users.overrides[name].model_dump(exclude_none=True)
    return ok({"name": name, "override": saved}, message=f"Settings of {name} saved")
