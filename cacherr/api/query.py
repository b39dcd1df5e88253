"""Query-string parameters read strictly: a wrong value is a 400 that names the parameter."""

from __future__ import annotations

from collections.abc import Collection

from aiohttp import web

from cacherr.errors import BadRequest

MAX_PAGE = 500


def int_param(
    request: web.Request, name: str, default: int, *, lo: int = 0, hi: int = 2**62
) -> int:
    """An integer query parameter within [lo, hi]."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number, not {raw[:40]!r}") from None
    if not lo <= value <= hi:
        raise BadRequest(f"{name} must be between {lo} and {hi}")
    return value


def choice_param(request: web.Request, name: str, choices: Collection[str], default: str) -> str:
    """A query parameter that must be one of `choices`."""
    value = request.query.get(name) or default
    if value not in choices:
        raise BadRequest(f"{name} must be one of {', '.join(sorted(choices))}")
    return value


def page_params(request: web.Request, default_limit: int = 50) -> tuple[int, int]:
    """(limit, offset) of a paginated list."""
    return (
        int_param(request, "limit", default_limit, lo=1, hi=MAX_PAGE),
        int_param(request, "offset", 0),
    )


def page(items: list[object], total: int, limit: int, offset: int) -> dict[str, object]:
    """The body of one page of a list."""
    return {"items": items, "total": total, "limit": limit, "offset": offset}
