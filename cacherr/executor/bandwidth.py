"""Copy bandwidth: a global limit, a limit per array disk, and the disk a copy reads from.

A copy from an array disk competes with any stream Plex reads from the same disk. The
executor paces copies on their copying thread (never on the event loop): after every chunk a
copy takes that many bytes from each `Pacer` that applies to it — the global one and its
disk's — and sleeps until the slowest of them allows it. A pacer hands out time at its rate
(`next_free` moves by bytes / rate), so over any stretch longer than a chunk the bytes copied
stay at the limit, however many copies share it. Time unused is saved up to `burst_s` only:
enough to make up for the time a chunk took to copy and for a copying thread that woke late
on a busy machine, too little for an idle pacer to let a long burst through.

The disk: Unraid mounts each array disk as `/mnt/diskN`; `/mnt/user0/<share>/x` (the array
as a union) is on the disk whose `<disks root>/diskN/<share>/x` exists. The union is told by
its Unraid name wherever the array is mounted (`…/mnt/user0`, or `<disks root>/user0`), the
disks are looked up under the disks root alone: in the container the array keeps its host
path while the host's /mnt is mapped read-only elsewhere (e.g. /host/mnt). Where the disk
cannot be told (no such layout, e.g. another host), each copy counts as its own disk.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Final

MiB: Final = 2**20
_DISK = re.compile(r"disk\d+")
# Array union mounts whose files live on one of the diskN mounts beside them.
_UNIONS: Final = ("user0", "user")


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


def _array_part(array_path: str, disks_root: str, name: Callable[[str], object]) -> int:
    """Index of the first part of the path that `name` accepts and that lies right in a
    folder named `mnt` or in `disks_root`; -1 if none."""
    parts, root = PurePosixPath(array_path).parts, PurePosixPath(disks_root)
    for i in range(1, len(parts)):
        parent = PurePosixPath(*parts[:i])
        if name(parts[i]) and (parent.name == "mnt" or parent == root):
            return i
    return -1


def union_share_path(array_path: str, disks_root: str) -> PurePosixPath | None:
    """The share-relative path of a file under `…/mnt/user0` or `…/mnt/user` (or the same
    under `disks_root`), or None; a file already on a `diskN` gives None (its disk is in its
    path)."""
    parts = PurePosixPath(array_path).parts
    i = _array_part(array_path, disks_root, _UNIONS.__contains__)
    return PurePosixPath(*parts[i + 1 :]) if 0 <= i < len(parts) - 1 else None


def disk_in_path(array_path: str, disks_root: str) -> str | None:
    """`diskN` when the path is on `…/mnt/diskN/...` or `<disks_root>/diskN/...` itself (no
    file system access)."""
    i = _array_part(array_path, disks_root, _DISK.fullmatch)
    return PurePosixPath(array_path).parts[i] if i >= 0 else None


def find_disks(share_paths: list[PurePosixPath | None], disks_root: str) -> list[str | None]:
    """Blocking (run off the loop): the `diskN` holding each share path, or None."""
    root = Path(disks_root)
    try:
        disks = sorted(p.name for p in root.iterdir() if _DISK.fullmatch(p.name))
    except OSError:
        disks = []
    found: list[str | None] = []
    for share_path in share_paths:
        hits = (d for d in disks if share_path is not None and (root / d / share_path).exists())
        found.append(next(hits, None))
    return found
