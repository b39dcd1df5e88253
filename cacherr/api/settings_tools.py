"""Live helpers of the Settings page: resolve a Plex path, test the Plex connection."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from cacherr import keys
from cacherr.api.body import accepts, parse_body
from cacherr.api.envelope import ok
from cacherr.api.plex_words import address_problem, reach_problem
from cacherr.config.models import Mapping, PlexConfig
from cacherr.errors import BadRequest, PathRefused, load_json
from cacherr.files.paths import Location, PathResolver

_MAPPINGS = TypeAdapter(list[Mapping])
PLEX_TEST_TIMEOUT_S = 10.0


def _mappings(request: web.Request) -> list[Mapping]:
    raw = request.query.get("mappings")
    if not raw:
        return list(request.app[keys.CONFIG].current.paths.mappings)
    document = load_json(raw, "mappings")
    try:
        return _MAPPINGS.validate_python(document)
    except (ValueError, ValidationError) as exc:
        raise BadRequest(f"mappings is not a valid list of mappings: {exc}") from None


def _on_disk(loc: Location, saved: list[Mapping]) -> dict[str, bool | None]:
    roots = [os.path.realpath(root) for m in saved for root in (m.array, m.cache)]
    return {
        "array": _exists_within(loc.array_path, roots),
        "backup": _exists_within(loc.backup_path, roots),
        "cache": _exists_within(loc.cache_path, roots),
    }


def _exists_within(path: Path, roots: list[str]) -> bool | None:
    """Whether `path` exists, told only for a path inside a saved mapping's folders (None
    otherwise): tried mappings must not make this route tell whether any file exists."""
    parent = os.path.realpath(path.parent)
    if not any(parent == root or parent.startswith(root.rstrip("/") + "/") for root in roots):
        return None
    return os.path.lexists(path)


async def resolve(request: web.Request) -> web.Response:
    """Where a Plex path lives on the array and the cache, or why Cacherr refuses it.

    Query: `plex_path`; optional `mappings` (JSON list) to try mappings before saving them.
    Whether each file exists is told only inside the saved mappings' folders (else null).
    """
    plex_path = request.query.get("plex_path", "")
    if not plex_path:
        raise BadRequest("plex_path is required, e.g. /data/tv/Show/Season 01/Show - S01E01.mkv")
    mappings = _mappings(request)
    try:
        loc = PathResolver(mappings).from_plex(plex_path)
    except PathRefused as exc:
        return ok({"ok": False, "plex_path": plex_path, "reason": exc.message})
    saved = list(request.app[keys.CONFIG].current.paths.mappings)
    on_disk = await asyncio.to_thread(_on_disk, loc, saved)
    return ok(
        {
            "ok": True,
            "plex_path": loc.plex_path,
            "mapping": loc.mapping_name,
            "cacheable": loc.cacheable,
            "array_path": str(loc.array_path),
            "cache_path": str(loc.cache_path),
            "backup_path": str(loc.backup_path),
            "host_cache_path": loc.host_cache_path,
            "exists": on_disk,
        }
    )


class PlexTest(BaseModel):
    """The connection to try; unset fields use the saved settings."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(None, max_length=2000, description="Plex server address.")
    token: str | None = Field(None, max_length=500, description="X-Plex-Token to try.")


async def _probe(url: str, token: str, verify_tls: bool) -> dict[str, Any]:
    timeout = aiohttp.ClientTimeout(total=PLEX_TEST_TIMEOUT_S)
    headers = {"X-Plex-Token": token, "Accept": "application/json"}
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.get(url.rstrip("/") + "/", headers=headers, ssl=verify_tls) as resp,
    ):
        if resp.status == 401:
            return {"ok": False, "reason": "Plex refused the token (401)"}
        if resp.status != 200:
            return {"ok": False, "reason": f"Plex answered HTTP {resp.status}"}
        try:
            body = await resp.json(content_type=None)
            info = body.get("MediaContainer", {})
        except (ValueError, AttributeError):
            return {"ok": False, "reason": "the address answered, but not like a Plex server"}
        return {
            "ok": True,
            "name": info.get("friendlyName"),
            "version": info.get("version"),
            "machine_identifier": info.get("machineIdentifier"),
        }


def _saved_token_for(url: str, plex: PlexConfig) -> str:
    """The saved token, only for the saved address: it must never be sent anywhere else."""
    saved = plex.token.get_secret_value() if plex.token else ""
    if not saved:
        raise BadRequest("no Plex token is set; enter one to test")
    if _same_address(url, plex.url):
        return saved
    raise BadRequest(
        "the saved Plex token is only sent to the saved Plex address; "
        "enter the token with the new address to test it"
    )


def _same_address(a: str, b: str) -> bool:
    def norm(url: str) -> tuple[str, str, str]:
        parts = urlsplit(url.strip())
        return parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/")

    return bool(b.strip()) and norm(a) == norm(b)


@accepts(PlexTest)
async def test_plex(request: web.Request) -> web.Response:
    """Try a Plex address and token (the saved ones by default); the token is never echoed."""
    body = await parse_body(request, PlexTest)
    plex = request.app[keys.CONFIG].current.plex
    url = (body.url or plex.url).strip()
    saved = plex.token.get_secret_value() if plex.token else ""
    problem = address_problem(url, body.token or saved)
    if problem is not None:
        raise BadRequest(problem)
    token = body.token or _saved_token_for(url, plex)
    # The token travels in a header: a control character there is refused by the HTTP client.
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in token):
        raise BadRequest("the Plex token holds control characters; a Plex token never does")
    try:
        result = await _probe(url, token, plex.verify_tls)
    except (aiohttp.ClientError, TimeoutError) as exc:
        result = {"ok": False, "reason": reach_problem(url, exc, PLEX_TEST_TIMEOUT_S)}
    message = (
        f"Connected to {result.get('name') or 'Plex'} {result.get('version') or ''}".strip()
        if result["ok"]
        else str(result["reason"])
    )
    return ok({**result, "url": url}, message=message)
