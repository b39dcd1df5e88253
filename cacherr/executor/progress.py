"""Progress of a running copy as `operation_progress` events, at most a few per second."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from cacherr.events import EventBus, OperationKind, OperationProgress


class ProgressReporter:
    """Called by the copying thread after each chunk; publishes on the event loop's thread.

    Reports are dropped while less than `interval_s` has passed since the last one, except
    the final one (all bytes done), so a fast copy costs a handful of events, not thousands.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        bus: EventBus,
        *,
        op_id: int,
        kind: OperationKind,
        path: str,
        interval_s: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._loop = loop
        self._bus = bus
        self._op_id, self._kind, self._path = op_id, kind, path
        self._interval_s = interval_s
        self._clock = clock
        self._started = clock()
        self._last = float("-inf")

    def __call__(self, bytes_done: int, size: int) -> None:
        now = self._clock()
        if bytes_done < size and now - self._last < self._interval_s:
            return
        self._last = now
        elapsed = now - self._started
        speed = bytes_done / elapsed if elapsed > 0 else 0.0
        eta = (size - bytes_done) / speed if speed > 0 else None
        event = OperationProgress(
            id=self._op_id,
            kind=self._kind,
            path=self._path,
            bytes_done=bytes_done,
            size=size,
            speed_bps=round(speed),
            eta_s=round(eta, 1) if eta is not None else None,
        )
        # The loop may already be closing when a last chunk lands; then nobody is listening.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._bus.publish, event)
