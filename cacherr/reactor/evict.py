"""Evicting one file on request (the page's Evict button): back to the array now.

Every claim on the file is released and a restore is submitted at once, without waiting
for retention. A pinned file, a file being played, or one still being copied is refused
with the reason. Sources may claim the file again later (a new play, the next sweep).
"""

from __future__ import annotations

from cacherr.errors import Conflict, NotFound, Unavailable
from cacherr.executor import Operation
from cacherr.reactor.engine import CacheEngine


async def evict_now(engine: CacheEngine, plex_path: str) -> Operation:
    """Release the file's claims and submit its restore; raises with a reason otherwise."""
    managed = engine.index.managed(plex_path)
    if managed is None:
        raise NotFound(f"{plex_path} is not on the cache")
    if managed.in_flight:
        raise Conflict(f"{plex_path} is being copied; evict it once the copy is done")
    if engine.index.pinned(plex_path):
        raise Conflict(f"{plex_path} is pinned; unpin it first")
    if engine.is_active(plex_path):
        raise Conflict(f"{plex_path} is being played; it goes back after playback")
    executor = engine.executor
    if executor is None:
        raise Unavailable("the executor is not running")
    location = engine.resolver.from_plex(plex_path)
    now = engine.clock()
    change = await engine.store.release([plex_path], now=now)
    await engine.refresh_claims([plex_path, *change.touched])
    return executor.submit("restore", location, reason="evict: asked for on the page")
