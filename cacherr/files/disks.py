"""Unraid's array disks: which `diskN` a file of the array is on.

Unraid mounts each array disk as `/mnt/diskN`; `/mnt/user0/<share>/x` (the array
as a union) is on the disk whose `<disks root>/diskN/<share>/x` exists. The union is told by
its Unraid name wherever the array is mounted (`…/mnt/user0`, or `<disks root>/user0`), the
disks are looked up under the disks root alone: in the container the array keeps its host
path while the host's /mnt is mapped read-only elsewhere (e.g. /host/mnt). Where the disk
cannot be told (no such layout, e.g. another host), each copy counts as its own disk.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Final

_DISK = re.compile(r"disk\d+")
# Array union mounts whose files live on one of the diskN mounts.
_UNIONS: Final = ("user0", "user")


@functools.lru_cache(maxsize=1024)
def _parts(path: str) -> tuple[str, ...]:
    """A path's parts, kept a while: the disks root is the same for every copy, and a copy's
    path is looked at two or three times as it is queued."""
    return PurePosixPath(path).parts


def _array_part(array_path: str, disks_root: str, name: Callable[[str], object]) -> int:
    """Index of the first part of the path that `name` accepts and that lies right in a
    folder named `mnt` or in `disks_root`; -1 if none."""
    parts, root = _parts(array_path), _parts(disks_root)
    for i in range(1, len(parts)):
        # The parent folder is parts[:i]: its name is parts[i - 1] (never the root's "/").
        if name(parts[i]) and (parts[i - 1] == "mnt" or parts[:i] == root):
            return i
    return -1


def union_share_path(array_path: str, disks_root: str) -> PurePosixPath | None:
    """The share-relative path of a file under `…/mnt/user0` or `…/mnt/user` (or the same
    under `disks_root`), or None; a file already on a `diskN` gives None (its disk is in its
    path)."""
    parts = _parts(array_path)
    i = _array_part(array_path, disks_root, _UNIONS.__contains__)
    return PurePosixPath(*parts[i + 1 :]) if 0 <= i < len(parts) - 1 else None


def disk_in_path(array_path: str, disks_root: str) -> str | None:
    """`diskN` when the path is on `…/mnt/diskN/...` or `<disks_root>/diskN/...` itself (no
    file system access)."""
    i = _array_part(array_path, disks_root, _DISK.fullmatch)
    return _parts(array_path)[i] if i >= 0 else None


def array_disks(disks_root: str) -> list[str]:
    """Blocking: the `diskN` folders under `disks_root`, in disk order (none if unreadable)."""
    try:
        names = [p.name for p in Path(disks_root).iterdir() if _DISK.fullmatch(p.name)]
    except OSError:
        return []
    return sorted(names, key=lambda name: int(name[4:]))


def find_disks(share_paths: list[PurePosixPath | None], disks_root: str) -> list[str | None]:
    """Blocking (run off the loop): the `diskN` holding each share path, or None."""
    root, disks = Path(disks_root), array_disks(disks_root)
    found: list[str | None] = []
    for share_path in share_paths:
        hits = (d for d in disks if share_path is not None and (root / d / share_path).exists())
        found.append(next(hits, None))
    return found
