"""Retention on time: a file goes back to the array when its retention is over, not at the
next sweep (with the defaults that was up to 30 minutes late, while the page showed the
earlier time).

A small long-running task: it sleeps until the earliest `returns_at` of the managed files
(or until a plan changed the picture), then plans the files that are due. A file the plan
keeps anyway (being played, a restore that failed) is tried again after `RETRY_S`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Final

from cacherr.config.models import Settings
from cacherr.errors import CacherrError
from cacherr.reactor.engine import CacheEngine
from cacherr.tasks import cancel_and_wait

log = logging.getLogger(__name__)

# Longest single wait: the retention setting or the clock may change meanwhile.
MAX_WAIT_S: Final = 3600.0
# A due file the plan kept (played, or its restore failed) is tried again this much later.
RETRY_S: Final = 300.0

Sleep = Callable[[float], Awaitable[None]]


class ReturnTimer:
    """`start()` / `close()`; see the module docstring."""

    def __init__(
        self,
        engine: CacheEngine,
        settings: Callable[[], Settings],
        *,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._engine = engine
        self._settings = settings
        self._sleep = sleep
        self._task: asyncio.Task[None] | None = None
        self._tried: dict[str, float] = {}  # path -> when it was last planned as due

    async def start(self) -> None:
        """Begin watching the index's return times."""
        self._task = asyncio.create_task(self._run(), name="retention-returns")

    async def close(self) -> None:
        """Stop."""
        await cancel_and_wait(self._task)
        self._task = None

    def next_due(self, now: float) -> tuple[float | None, list[str]]:
        """When the next file goes back, and the files due at `now`."""
        retention_s = self._settings().retention.hours * 3600.0
        earliest: float | None = None
        due: list[str] = []
        for at, path in self._engine.index.returns_due(retention_s):
            tried = self._tried.get(path)
            if tried is not None:
                at = max(at, tried + RETRY_S)
            if at <= now:
                due.append(path)
            elif earliest is None or at < earliest:
                earliest = at
        return earliest, due

    async def _run(self) -> None:
        engine = self._engine
        while True:
            engine.planned.clear()
            now = engine.clock()
            earliest, due = self.next_due(now)
            if due:
                await self._return(due, now)
                continue
            wait_s = MAX_WAIT_S if earliest is None else min(earliest - now, MAX_WAIT_S)
            sleeping = asyncio.ensure_future(self._sleep(max(wait_s, 0.0)))
            changed = asyncio.ensure_future(engine.planned.wait())
            try:
                await asyncio.wait([sleeping, changed], return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in (sleeping, changed):
                    waiter.cancel()

    async def _return(self, due: list[str], now: float) -> None:
        self._tried = {
            p: at for p, at in self._tried.items() if p in self._engine.index.managed_files
        }
        self._tried.update(dict.fromkeys(due, now))
        try:
            _, submitted = await self._engine.plan(due)
        except CacherrError as exc:
            log.warning("Files due back to the array not planned: %s", exc.message)
            return
        except Exception:  # tried again after RETRY_S; the timer goes on
            log.exception("Files due back to the array not planned")
            return
        if submitted.restored:
            log.info("Retention over: %d file(s) going back to the array", submitted.restored)
