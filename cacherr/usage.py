"""How much of the fast pool Cacherr uses, and a sampler that keeps its history.

The pool's size comes from `statvfs` of each cacheable mapping's cache root (one per file
system); what Cacherr uses is the sum of its managed files (copies in flight included).
`UsageSampler` records one point in `usage_history` at start, after each change (a finished
copy or restore, a reloaded limit; a burst of them makes one point) and every few minutes
otherwise, drops points older than a week and a day, and publishes each point as a `stats`
event for the page. When the pool's free space falls below the `cache.min_free` floor it
publishes one `low_space` event (again only after the pool has had room in between).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import Callable
from typing import Any

from cacherr import events
from cacherr.config.models import Settings, parse_size
from cacherr.db import Database
from cacherr.errors import DatabaseUnwritable
from cacherr.events import EventBus
from cacherr.files.queries import footprint
from cacherr.files.space import pools_space
from cacherr.tasks import cancel_and_wait

log = logging.getLogger(__name__)

HISTORY_KEEP_S = 8 * 86_400
RANGES_S = {"24h": 86_400, "7d": 7 * 86_400}
MAX_POINTS = 288
# What changes the usage or its limit: each is followed by a point.
CHANGES = frozenset({events.OPERATION_COMPLETE, events.CONFIG_RELOADED})


# A usage point is the `stats` event itself (bytes; `used_percent` of the limit).
Usage = events.Stats


def cache_roots(settings: Settings) -> list[str]:
    """The cache roots of the cacheable mappings, in configuration order."""
    return list(dict.fromkeys(m.cache for m in settings.paths.mappings if m.cacheable))


async def measure(db: Database, settings: Settings) -> Usage:
    """The current usage (statvfs runs off the event loop)."""
    space, pools = await asyncio.to_thread(pools_space, cache_roots(settings))
    total, free = space.total_bytes, space.free_bytes
    managed = await footprint(db)
    used, files = managed.bytes, managed.media_cached
    cache = settings.cache
    limit = parse_size(cache.limit, total)
    return Usage(
        total_bytes=total,
        free_bytes=free,
        used_bytes=used,
        limit_bytes=limit,
        min_free_bytes=parse_size(cache.min_free, total),
        files=files,
        pools=pools,
        used_percent=round(100 * used / limit, 1) if limit else None,
    )


async def record(db: Database, usage: Usage, now: float) -> None:
    """Store one history point and drop the points that are too old (a chart: unsynced)."""

    def body(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO usage_history (ts, used_bytes, limit_bytes, files)"
            " VALUES (?, ?, ?, ?)",
            (int(now), usage.used_bytes, usage.limit_bytes, usage.files),
        )
        conn.execute("DELETE FROM usage_history WHERE ts < ?", (int(now - HISTORY_KEEP_S),))

    await db.run(body, durable=False)


async def history(db: Database, range_s: int, now: float) -> list[dict[str, int]]:
    """The points of the last `range_s` seconds, thinned to at most `MAX_POINTS`."""
    rows = await db.fetchall(
        "SELECT ts, used_bytes, limit_bytes, files FROM usage_history WHERE ts >= ? ORDER BY ts",
        (int(now - range_s),),
    )
    step = max(1, -(-len(rows) // MAX_POINTS))
    picked = rows[::step]
    if rows and picked[-1] is not rows[-1]:
        picked.append(rows[-1])  # always end on the latest point
    return [
        {"ts": int(r[0]), "used_bytes": int(r[1]), "limit_bytes": int(r[2]), "files": int(r[3])}
        for r in picked
    ]


class UsageSampler:
    """A small long-running task: a usage point at start, `settle_s` after each change and
    every `interval_s` otherwise; `start()` / `close()`."""

    def __init__(
        self,
        db: Database,
        bus: EventBus,
        settings: Callable[[], Settings],
        *,
        interval_s: float = 300.0,
        settle_s: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = db
        self._bus = bus
        self._settings = settings
        self._interval_s = interval_s
        self._settle_s = settle_s
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self._changes: events.Subscription | None = None
        self._low = False

    async def sample(self, *, publish: bool = True) -> Usage:
        """Measure, record and (unless told not to) publish one point now."""
        settings = self._settings()
        usage = await measure(self._db, settings)
        await record(self._db, usage, self._clock())
        if publish:
            self._bus.publish(usage)
        self._check_low(usage, settings)
        return usage

    def _check_low(self, usage: Usage, settings: Settings) -> None:
        low = usage.pools > 0 and usage.free_bytes < usage.min_free_bytes
        if low and not self._low:
            floor = settings.cache.min_free
            self._bus.publish(events.LowSpace(
                free_bytes=usage.free_bytes, total_bytes=usage.total_bytes,
                path=", ".join(cache_roots(settings)),
                message=f"less than the {floor} kept free",
            ))  # fmt: skip
        self._low = low

    async def start(self) -> None:
        """Begin sampling (the first point is taken at once)."""
        self._changes = self._bus.subscribe(set(CHANGES), maxsize=100)
        self._task = asyncio.create_task(self._run(self._changes), name="cacherr-usage-sampler")

    async def _run(self, changes: events.Subscription) -> None:
        # The first point is not published: a page connecting now gets it in its snapshot.
        publish = False
        while True:
            try:
                await self.sample(publish=publish)
            except DatabaseUnwritable as exc:  # a full config folder: health says so
                log.warning("Could not record the cache usage: %s", exc.message)
            except Exception:
                log.exception("Could not record the cache usage")
            publish = True
            try:
                await asyncio.wait_for(changes.get(), self._interval_s)
            except TimeoutError:
                continue
            await asyncio.sleep(self._settle_s)  # the rest of a burst joins this point
            with contextlib.suppress(asyncio.QueueEmpty):
                while True:
                    changes.get_nowait()

    async def close(self) -> None:
        """Stop sampling."""
        await cancel_and_wait(self._task)
        if self._changes is not None:
            self._changes.close()


DISK_SAMPLE = 2000
SPARED_EXPLANATION = (
    "Array disks holding the originals of cached files: playing those files reads the pool, "
    "so these disks can stay asleep for them (an estimate: other files on the same disks "
    "may still wake them)."
)


def _disk_roots(array_root: str) -> tuple[list[str], str] | None:
    """The `/mnt/diskN/<share>/<sub>` twins of an Unraid `/mnt/user0/<share>/<sub>` root."""
    parts = array_root.split("/")
    for i, part in enumerate(parts[:-2]):
        if part == "mnt" and parts[i + 1] in ("user0", "user"):
            base = "/".join(parts[: i + 1]) or "/"
            rest = "/".join(parts[i + 2 :])
            try:
                names = sorted(
                    n for n in os.listdir(base) if n.startswith("disk") and n[4:].isdigit()
                )
            except OSError:
                return None
            if not names:
                return None
            return [os.path.join(base, n, rest) for n in names], rest
    return None


def disks_spared(settings: Settings, files: list[tuple[str, str]]) -> dict[str, Any]:
    """Which array disks hold the backups of the cached `(mapping, rel)` files (blocking)."""
    by_name = {m.name: m for m in settings.paths.mappings}
    disks: set[str] = set()
    layout_known = False
    for mapping_name, rel in files[:DISK_SAMPLE]:
        mapping = by_name.get(mapping_name)
        twins = _disk_roots(mapping.array) if mapping is not None else None
        if twins is None:
            continue
        layout_known = True
        for root in twins[0]:
            if os.path.lexists(os.path.join(root, rel + ".plexcached")):
                disks.add(root.split("/mnt/", 1)[-1].split("/", 1)[0])
                break
    if not layout_known:
        return {
            "count": None,
            "disks": [],
            "explanation": "Not an Unraid /mnt/user0 array layout, so the disks cannot be told "
            "apart; every cached file is one array read avoided.",
        }
    return {"count": len(disks), "disks": sorted(disks), "explanation": SPARED_EXPLANATION}
