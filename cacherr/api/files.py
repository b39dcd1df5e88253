"""`GET /api/files`: the files on the cache, each with the claims that keep it there (why)."""

from __future__ import annotations

import posixpath
from pathlib import Path, PurePosixPath
from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field

from cacherr import keys
from cacherr.api.body import accepts, parse_body
from cacherr.api.envelope import ok
from cacherr.api.query import choice_param, page, page_params
from cacherr.claims import Claim, ClaimStore, file_priority
from cacherr.errors import Unavailable
from cacherr.files.queries import media_files
from cacherr.files.sidecars import belongs_to, is_media
from cacherr.plex.users import UserDirectory
from cacherr.reactor.evict import evict_now

SORTS = ("size", "priority", "age", "user", "path")
HOUR_S = 3600.0


async def user_names(directory: UserDirectory) -> dict[str, str]:
    """Display name by Plex user id."""
    return {u.id: u.name or u.id for u in await directory.all()}


def holder_name(claim: Claim, names: dict[str, str]) -> str:
    """Who holds a claim, as a person reads it: a user's name, a list, a pin."""
    if claim.source == "pinned":
        return "pin"
    if claim.source == "list":
        return f"list {claim.user_id}"
    return names.get(claim.user_id, claim.user_id)


def claim_dict(claim: Claim, names: dict[str, str]) -> dict[str, Any]:
    """A claim as the page shows it."""
    return {
        "source": claim.source,
        "user_id": claim.user_id,
        "user": holder_name(claim, names),
        "reason": claim.reason,
        "priority": round(claim.priority, 1),
        "created_at": claim.created_at,
        "expires_at": claim.expires_at,
        "rating_key": claim.rating_key,
    }


def sidecar_parents(rows: list[Any]) -> dict[int, int]:
    """Row id of each sidecar (subtitle, artwork) → row id of its media file, when that file
    is managed too: same mapping and folder, named after it (the longest such stem wins)."""
    media: dict[tuple[str, str], list[tuple[PurePosixPath, int]]] = {}
    for r in rows:
        rel = PurePosixPath(r["rel_path"])
        if is_media(Path(rel.name)):
            media.setdefault((r["mapping"], str(rel.parent)), []).append((rel, int(r["id"])))
    parents: dict[int, int] = {}
    for r in rows:
        rel = PurePosixPath(r["rel_path"])
        candidates = media.get((r["mapping"], str(rel.parent)), [])
        for owner, owner_id in sorted(candidates, key=lambda c: -len(c[0].stem)):
            if belongs_to(Path(owner.name), Path(rel.name), "all"):
                parents[int(r["id"])] = owner_id
                break
    return parents


def _sidecar_dict(row: Any) -> dict[str, Any]:
    return {
        "path": row["plex_path"],
        "name": posixpath.basename(row["plex_path"]),
        "state": row["state"],
        "size_bytes": int(row["size"]),
    }


async def cached_files(request: web.Request) -> web.Response:
    """Cached files: search `q`, filter `user`, `sort` (size, priority, age, user, path), paged.

    Each file lists its claims: who wants it, from which source, and why.
    """
    limit, offset = page_params(request)
    sort = choice_param(request, "sort", SORTS, "priority")
    order = choice_param(request, "order", ("asc", "desc"), "desc")
    needle = request.query.get("q", "").strip().lower()
    user = request.query.get("user", "")
    app = request.app
    db, now = app[keys.DB], keys.now(app)
    retention_s = app[keys.CONFIG].current.retention.hours * HOUR_S
    names = await user_names(app[keys.PLEX_USERS])
    claims: dict[str, list[Claim]] = {}
    for claim in await ClaimStore(db).all():
        claims.setdefault(claim.plex_path, []).append(claim)
    items = []
    rows = await media_files(db)
    # A subtitle is shown under its media file, not as a file of its own.
    parents = sidecar_parents(rows)
    sidecars: dict[int, list[Any]] = {}
    for r in rows:
        if r["id"] in parents:
            sidecars.setdefault(parents[r["id"]], []).append(r)
    for r in rows:
        if r["id"] in parents:
            continue
        own = sidecars.get(r["id"], [])
        held = claims.get(r["plex_path"], [])
        if user and all(c.user_id != user for c in held):
            continue
        if (
            needle
            and not any(needle in f["plex_path"].lower() for f in [r, *own])
            and not any(
                needle in c.reason.lower() or needle in holder_name(c, names).lower() for c in held
            )
        ):
            continue
        priority = file_priority(held, now)
        released = r["released_at"] if not held else None
        items.append(
            {
                "id": r["id"],
                "path": r["plex_path"],
                "name": posixpath.basename(r["plex_path"]),
                "mapping": r["mapping"],
                "rel": r["rel_path"],
                "rating_key": r["rating_key"],
                "state": r["state"],
                "size_bytes": int(r["size"]) + sum(int(f["size"]) for f in own),
                "sidecars": int(r["sidecars"]) + len(own),
                "sidecar_files": [_sidecar_dict(f) for f in own],
                "cached_at": r["cached_at"],
                "adopted": bool(r["adopted"]),
                "priority": None if priority is None else round(priority, 1),
                "pinned": any(c.source == "pinned" for c in held),
                "returns_at": None if held else (released or r["cached_at"]) + retention_s,
                "claims": [claim_dict(c, names) for c in held],
            }
        )
    _sort(items, sort, order == "desc")
    return ok(page(list(items[offset : offset + limit]), len(items), limit, offset))


def _sort(items: list[dict[str, Any]], sort: str, desc: bool) -> None:
    def first_user(item: dict[str, Any]) -> str:
        return min((c["user"].lower() for c in item["claims"]), default="\uffff")

    keys_by_sort = {
        "size": lambda i: i["size_bytes"],
        "priority": lambda i: -1e9 if i["priority"] is None else i["priority"],
        # "age": the most recently cached first when descending means newest first.
        "age": lambda i: i["cached_at"],
        "user": first_user,
        "path": lambda i: i["path"].lower(),
    }
    items.sort(key=keys_by_sort[sort], reverse=desc)


class EvictRequest(BaseModel):
    path: str = Field(min_length=1, max_length=4096, description="The file's Plex path.")


@accepts(EvictRequest)
async def evict_file(request: web.Request) -> web.Response:
    """Send a cached file back to the array now (its claims are released)."""
    body = await parse_body(request, EvictRequest)
    engine = request.app.get(keys.CACHE_ENGINE)
    if engine is None:
        raise Unavailable("caching is not running")
    op = await evict_now(engine, body.path)
    return ok(op.as_dict(), message="going back to the array", status=202)
