"""Copy bandwidth: a global limit and a limit per array disk.

A copy from an array disk competes with any stream Plex reads from the same disk. The
executor paces copies on their copying thread (never on the event loop): after every chunk a
copy takes that many bytes from each `Pacer` that applies to it — the global one and its
disk's — and sleeps until the slowest of them allows it. A pacer hands out time at its rate
(`next_free` moves by bytes / rate), so over any stretch longer than a chunk the bytes copied
stay at the limit, however many copies share it. Time unused is saved up to `burst_s` only:
enough to make up for the time a chunk took to copy and for a copying thread that woke late
on a busy machine, too little for an idle pacer to let a long burst through.

The disk a copy reads from is told by `cacherr.files.disks`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final

MiB: Final = 2**20


@dataclass
class Pacer:
    """Hands out copy time at `rate_bps` bytes per second to any number of threads."""

    rate_bps: float
    burst_s: float = 0.25
    clock: Callable[[], float] = time.monotonic
    _next_free: float = field(default=float("-inf"), init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def reserve(self, nbytes: int) -> float:
        """Account for `nbytes` just copied; returns how long to wait before copying more."""
        with self._lock:
            now = self.clock()
            start = now if self._next_free == float("-inf") else now - self.burst_s
            self._next_free = max(self._next_free, start) + nbytes / self.rate_bps
            return self._next_free - now


def paced_chunk_bytes(rate_bps: float, chunk_bytes: int) -> int:
    """A chunk of about 1/20 s at `rate_bps` (64 KiB..`chunk_bytes`), so a slow copy moves,
    and reports progress, smoothly instead of a big chunk then a long sleep."""
    return max(min(int(rate_bps / 20), chunk_bytes), min(2**16, chunk_bytes))


def pace(pacers: Iterable[Pacer], nbytes: int, cancel: threading.Event) -> None:
    """On the copying thread: wait until every pacer allows `nbytes` more (or cancellation)."""
    wait_s = max((p.reserve(nbytes) for p in pacers), default=0.0)
    if wait_s > 0:
        cancel.wait(wait_s)  # the copy checks the flag itself before its next chunk
