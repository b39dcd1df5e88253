"""Typed application keys and request helpers shared by the route modules."""

from __future__ import annotations

from aiohttp import web

from .faults import Faults, RequestCounter
from .model import User
from .world import World

WORLD = web.AppKey("fakeplex_world", World)
FAULTS = web.AppKey("fakeplex_faults", Faults)
COUNTER = web.AppKey("fakeplex_counter", RequestCounter)


def token_of(request: web.Request) -> str | None:
    """The Plex token of a request: ``X-Plex-Token`` header first, then the query string."""
    return request.headers.get("X-Plex-Token") or request.query.get("X-Plex-Token")


def require_user(request: web.Request) -> User:
    """The user whose token made the request; 401 for a missing or unknown token."""
    user = request.app[WORLD].user_by_token(token_of(request))
    if user is None:
        raise web.HTTPUnauthorized(
            text="<html><head><title>Unauthorized</title></head>"
            "<body><h1>401 Unauthorized</h1></body></html>",
            content_type="text/html",
        )
    return user


def require_owner(request: web.Request) -> User:
    """Like :func:`require_user` but only the server owner passes."""
    user = require_user(request)
    if user.kind != "owner":
        raise web.HTTPUnauthorized(text="owner token required")
    return user


def container_window(request: web.Request) -> tuple[int, int | None]:
    """``X-Plex-Container-Start`` / ``-Size`` from headers or query (paging)."""

    def read(name: str) -> int | None:
        raw = request.headers.get(name) or request.query.get(name)
        return int(raw) if raw not in (None, "") else None

    return read("X-Plex-Container-Start") or 0, read("X-Plex-Container-Size")
