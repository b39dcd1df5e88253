"""The state database's write turn: one writer at a time, synced writes first.

A copy in flight holds one of a few slots and takes a journal step (a synced commit) between
each of its moves; claims, the activity feed and tokens are derived state, written unsynced.
In a burst of 40 plays the reactions' claims queued for the writer ahead of the copies'
journal steps, so each step of the first copies waited behind most of the burst and the
slots stayed busy for most of a second. Here a waiting synced write takes the next turn
before any waiting unsynced one; among each kind, first come first served. Unsynced writes
cannot be starved for long: the journal writes only between the moves of the few running
copies.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator


class WriteLock:
    """An asyncio lock with two queues; `turn(synced)` holds it for one write."""

    def __init__(self) -> None:
        self._held = False
        self._synced: deque[asyncio.Future[None]] = deque()
        self._unsynced: deque[asyncio.Future[None]] = deque()
        # Turns ended so far: what was read before a turn may have changed by its end.
        self.turns = 0

    @contextlib.asynccontextmanager
    async def turn(self, *, synced: bool = True) -> AsyncIterator[None]:
        """Wait for the writer (synced writes before unsynced ones), hold it inside."""
        await self._acquire(synced)
        try:
            yield
        finally:
            self._release()

    def locked(self) -> bool:
        """Whether a write holds the lock now."""
        return self._held

    async def _acquire(self, synced: bool) -> None:
        if not self._held and not self._synced and not self._unsynced:
            self._held = True
            return
        waiter = asyncio.get_running_loop().create_future()
        queue = self._synced if synced else self._unsynced
        queue.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()  # handed the turn as it was cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):  # a release may have dropped it already
                    queue.remove(waiter)
            raise

    def _release(self) -> None:
        self.turns += 1
        for queue in (self._synced, self._unsynced):
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)  # the turn passes on; the lock stays held
                    return
        self._held = False
