"""Write-behind for long copies: each chunk goes to the disk while the next is written, and
leaves memory once it is there.

Copied through the page cache, a 40 GB movie leaves gigabytes of dirty pages for the kernel
to write back later. Once they pass `vm.dirty_ratio`, every writer on the server (Plex's
database and transcoder among them) waits for that flush, and the copy pushes out the
pages Plex is streaming from. Here, once a copy has written chunk N, the kernel is asked to
start writing chunk N out (`sync_file_range` with `SYNC_FILE_RANGE_WRITE`), then chunk N-1
is waited for and dropped from the page cache (`POSIX_FADV_DONTNEED`). So a copy holds at
most two chunks in memory, and reading the source overlaps writing the copy.

This is about memory and when bytes are written, not about durability: the copy is still
fsynced whole before the protocol relies on it. A write error that `sync_file_range`
reports (and so takes from the later fsync) fails the copy. Where the call is missing (not
Linux) or the file system refuses it, nothing is done.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
from collections.abc import Callable
from typing import Final

# <linux/fs.h>: SYNC_FILE_RANGE_WAIT_BEFORE = 1, _WRITE = 2, _WAIT_AFTER = 4.
_START: Final = 2
_FINISH: Final = 1 | 2 | 4
# Answers that mean "not for this file" rather than "the write failed".
_UNSUPPORTED: Final = {errno.EINVAL, errno.ESPIPE, errno.ENOSYS, errno.EOPNOTSUPP, errno.EBADF}

SyncFileRange = Callable[[int, int, int, int], int]


def _load() -> SyncFileRange | None:
    try:
        fn = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    fn.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    fn.restype = ctypes.c_int
    call: SyncFileRange = fn
    return call


_SYNC_FILE_RANGE: Final = _load()


class WriteBehind:
    """Told of each chunk a copy writes to `fd`; see the module docstring."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._on = _SYNC_FILE_RANGE is not None
        self._flushing: tuple[int, int] | None = None  # the chunk being written out

    def wrote(self, start: int, end: int) -> None:
        """Bytes [`start`, `end`) of the file were just written."""
        if not self._on or end <= start:
            return
        if not self._sync(start, end, _START):
            return
        if self._flushing is not None:
            before, after = self._flushing
            if not self._sync(before, after, _FINISH):
                return
            with contextlib.suppress(OSError):
                os.posix_fadvise(self._fd, before, after - before, os.POSIX_FADV_DONTNEED)
        self._flushing = (start, end)

    def _sync(self, start: int, end: int, flags: int) -> bool:
        assert _SYNC_FILE_RANGE is not None
        if _SYNC_FILE_RANGE(self._fd, start, end - start, flags) == 0:
            return True
        code = ctypes.get_errno()
        if code in _UNSUPPORTED:
            self._on = False  # this file system does not take it: the page cache as before
            return False
        raise OSError(code, os.strerror(code))
