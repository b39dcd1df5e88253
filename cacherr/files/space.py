"""Whether the pool has room for one more file, in Cacherr's own budget and above its floor.

Two rules, both checked before a copy starts: the pool keeps `cache.min_free` free after
the copy (less what copies already running will still write), and everything Cacherr manages
plus this file stays within `cache.limit`. Either may be bytes or a share of the pool.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from cacherr.config.models import parse_size
from cacherr.errors import InsufficientSpace


@dataclass(frozen=True)
class PoolSpace:
    """A pool's size and the bytes an unprivileged writer may still use."""

    total_bytes: int
    free_bytes: int


def pool_space(root: Path) -> PoolSpace:
    """statvfs of the file system holding `root` (blocking; ZFS reports its dataset)."""
    st = os.statvfs(root)
    return PoolSpace(st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize)


def pools_space(roots: Iterable[str | Path]) -> tuple[PoolSpace, int]:
    """The summed space of the distinct file systems holding `roots`, and how many there are.

    Blocking. Each file system counts once, however many roots share it; a root that cannot
    be read counts nothing (its mapping cannot be used anyway).
    """
    seen: set[int] = set()
    total = free = 0
    for root in roots:
        try:
            device = os.stat(root).st_dev
            space = pool_space(Path(root))
        except OSError:
            continue
        if device in seen:
            continue
        seen.add(device)
        total += space.total_bytes
        free += space.free_bytes
    return PoolSpace(total, free), len(seen)


@dataclass(frozen=True)
class SpaceCheck:
    """The numbers behind a space decision (shown to the user when it refuses)."""

    size_bytes: int
    total_bytes: int
    free_bytes: int
    min_free_bytes: int
    limit_bytes: int
    managed_bytes: int
    pending_bytes: int

    @property
    def room_above_floor(self) -> int:
        """Bytes that may still be written before the pool reaches `min_free`."""
        return self.free_bytes - self.pending_bytes - self.min_free_bytes

    @property
    def room_in_budget(self) -> int:
        """Bytes left in Cacherr's `limit`."""
        return self.limit_bytes - self.managed_bytes

    @property
    def allows(self) -> bool:
        """Whether the file fits both rules."""
        return self.size_bytes <= min(self.room_above_floor, self.room_in_budget)


def check_space(
    size_bytes: int,
    space: PoolSpace,
    *,
    min_free: str,
    limit: str,
    managed_bytes: int,
    pending_bytes: int = 0,
) -> SpaceCheck:
    """Decide for one file; raises `InsufficientSpace` with the numbers when it does not fit.

    `managed_bytes` counts every file Cacherr has on the pool or is copying there;
    `pending_bytes` what running copies have yet to write (already counted as managed).
    """
    check = SpaceCheck(
        size_bytes=size_bytes,
        total_bytes=space.total_bytes,
        free_bytes=space.free_bytes,
        min_free_bytes=parse_size(min_free, space.total_bytes),
        limit_bytes=parse_size(limit, space.total_bytes),
        managed_bytes=managed_bytes,
        pending_bytes=pending_bytes,
    )
    if check.allows:
        return check
    if check.size_bytes > check.room_in_budget:
        why = (
            f"it needs {size_bytes} bytes but only {check.room_in_budget} are left of the "
            f"cache.limit of {check.limit_bytes} ({managed_bytes} already managed)"
        )
    else:
        why = (
            f"it needs {size_bytes} bytes but the pool has {space.free_bytes} free, "
            f"{pending_bytes} promised to running copies and must keep "
            f"{check.min_free_bytes} free (cache.min_free)"
        )
    raise InsufficientSpace(f"not enough space on the pool: {why}", details=asdict(check))
