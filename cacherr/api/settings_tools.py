"""Live helpers of the Settings page: resolve a Plex path, test the Plex connection."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import aiohttp
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from cacherr import keys
from cacherr.api.body import accepts, parse_body
from cacherr.api.envelope import ok
from cacherr.config.models import Mapping
from cacherr.errors import BadRequest, PathRefused, load_json
from cacherr.files.paths import PathResolver

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


def _exists(path: os.PathLike[str] | str) -> bool:
    return os.path.lexists(path)


async def resolve(request: web.Request) -> web.Response:
    """Where a Plex path lives on the array and the cache, or why Cacherr refuses it.

    Query: `plex_path`; optional `mappings` (JSON list) to try mappings before saving them.
    """
    plex_path = request.query.get("plex_path", "")
    if not plex_path:
        raise BadRequest("plex_path is required, e.g. /data/tv/Show/Season 01/Show - S01E01.mkv")
    mappings = _mappings(request)
    try:
        loc = PathResolver(mappings).from_plex(plex_path)
    except PathRefused as exc:
        return ok({"ok": False, "plex_path": plex_path, "reason": exc.message})
    on_disk = await asyncio.to_thread(
        lambda: {
            "array": _exists(loc.array_path),
            "backup": _exists(loc.backup_path),
            "cache": _exists(loc.cache_path),
        }
    )
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


@accepts(PlexTest)
async def test_plex(request: web.Request) -> web.Response:
    """Try a Plex address and token (the saved ones by default); the token is never echoed."""
    body = await parse_body(request, PlexTest)
    plex = request.app[keys.CONFIG].current.plex
    url = (body.url or plex.url).strip()
    token = body.token or (plex.token.get_secret_value() if plex.token else "")
    if not url.startswith(("http://", "https://")):
        raise BadRequest("the Plex address must start with http:// or https://")
    if not token:
        raise BadRequest("no Plex token is set; enter one to test")
    # The token travels in a header: a control character there is refused by the HTTP client.
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in token):
        raise BadRequest("the Plex token holds control characters; a Plex token never does")
    try:
        result = await _probe(url, token, plex.verify_tls)
    except (aiohttp.ClientError, TimeoutError) as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
        result = {"ok": False, "reason": f"cannot reach {url}: {reason}"}
    message = (
        f"Connected to {result.get('name') or 'Plex'} {result.get('version') or ''}".strip()
        if result["ok"]
        else str(result["reason"])
    )
    return ok({**result, "url": url}, message=message)
