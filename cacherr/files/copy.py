"""Streaming one file to a hidden temp name: fast, cancellable, durable, metadata kept.

The kernel copies (`copy_file_range`, no bytes through Python); where the file systems
refuse that, 8 MiB buffers go through `preadv`/`pwrite`. Either way the copy is checked for
cancellation and reported between chunks, written out to the disk behind itself when it is
longer than 16 MiB (`writeback`), fsynced with its folder, and given the source's owner,
mode and times. On any error or cancellation the temp file is removed; the source is only
ever read. (`cache.verify = full` hashes both files afterwards, in parallel: see
`verify`; that is faster than pushing every byte through Python here to hash it in passing.)
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from cacherr.atomic import fsync_dir
from cacherr.errors import CacherrError
from cacherr.files.model import CHUNK_BYTES, LONG_COPY_BYTES
from cacherr.files.writeback import WriteBehind

BUFFER_BYTES: Final = 8 * 2**20
# copy_file_range refusals that mean "not between these files", not "the copy failed".
_NO_KERNEL_COPY = {errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL, errno.EBADF}


class CopyCancelled(CacherrError):
    """The operation was cancelled between two chunks; the temp file is gone."""

    status = 409
    code = "cancelled"


class SourceChanged(CacherrError):
    """The source was modified while it was being copied; the copy is discarded."""

    status = 409
    code = "source_changed"


@dataclass
class CopyControl:
    """What the caller shares with a running copy: a cancel flag and a progress callback.

    `on_progress(bytes_done, size)` runs on the copying thread, after every chunk, then
    `pace(chunk_bytes)`, which may sleep there to hold a bandwidth limit.
    """

    cancel: threading.Event = field(default_factory=threading.Event)
    on_progress: Callable[[int, int], None] | None = None
    pace: Callable[[int], None] | None = None

    def check(self) -> None:
        """Raise `CopyCancelled` if cancellation was asked for."""
        if self.cancel.is_set():
            raise CopyCancelled("cancelled")


@dataclass(frozen=True)
class CopyResult:
    """The copied file: its size and modification time."""

    size: int
    mtime_ns: int


def copy_to_temp(
    source: Path,
    temp: Path,
    control: CopyControl,
    *,
    chunk_bytes: int = CHUNK_BYTES,
    sync: bool = True,
) -> CopyResult:
    """Copy `source` to the new file `temp` (which must not exist); blocking, run it off-loop.

    The copy and its folder are fsynced, unless `sync=False`: then the caller fsyncs both
    before it relies on them (after several copies, which then share the disk's flushes)."""
    fin = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    fout = -1
    try:
        st = os.fstat(fin)
        if not stat.S_ISREG(st.st_mode):
            raise CacherrError(f"{source} is not a regular file")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fout = os.open(temp, flags, 0o600)
        with contextlib.suppress(OSError):
            os.posix_fadvise(fin, 0, 0, os.POSIX_FADV_SEQUENTIAL)
        # A long copy's chunks go to the disk as it goes (`writeback`); a short one's all
        # at once when it is fsynced (alone, or with the rest of its batch), however small
        # a bandwidth limit makes its chunks.
        behind = WriteBehind(fout) if st.st_size > LONG_COPY_BYTES else None
        done = _kernel_copy(fin, fout, st.st_size, control, chunk_bytes, behind)
        if done < st.st_size:
            done = _buffered_copy(fin, fout, st.st_size, done, control, chunk_bytes, behind)
        after = os.fstat(fin)
        if done != st.st_size or (after.st_size, after.st_mtime_ns) != (st.st_size, st.st_mtime_ns):
            raise SourceChanged(f"{source} changed while it was being copied")
        _copy_metadata(fout, st)
        if sync:
            os.fsync(fout)
            fsync_dir(temp.parent)
        os.close(fout)
        return CopyResult(st.st_size, st.st_mtime_ns)
    except BaseException:
        if fout >= 0:  # only a temp this call created is removed
            os.close(fout)
            fout = -1
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
        raise
    finally:
        os.close(fin)


def _kernel_copy(
    fin: int, fout: int, size: int, control: CopyControl, chunk: int, behind: WriteBehind | None
) -> int:
    """copy_file_range until done; returns bytes copied (0 if the kernel refuses at once)."""
    done = 0
    while done < size:
        control.check()
        try:
            n = os.copy_file_range(fin, fout, min(chunk, size - done), done, done)
        except OSError as exc:
            if done == 0 and exc.errno in _NO_KERNEL_COPY:
                return 0
            raise
        if n == 0:  # the source got shorter; caught by the caller's size check
            break
        done += n
        _report(control, done, size, n, behind)
    return done


def _buffered_copy(
    fin: int,
    fout: int,
    size: int,
    done: int,
    control: CopyControl,
    chunk: int,
    behind: WriteBehind | None,
) -> int:
    """preadv/pwrite through one reused buffer; returns bytes copied."""
    buffer = memoryview(bytearray(min(max(chunk, 2**16), BUFFER_BYTES)))
    while done < size:
        control.check()
        n = os.preadv(fin, [buffer[: min(len(buffer), size - done)]], done)
        if n == 0:
            break
        written = 0
        while written < n:
            written += os.pwrite(fout, buffer[written:n], done + written)
        done += n
        _report(control, done, size, n, behind)
    return done


def _report(
    control: CopyControl, done: int, size: int, chunk: int, behind: WriteBehind | None
) -> None:
    if behind is not None:
        behind.wrote(done - chunk, done)
    if control.on_progress is not None:
        control.on_progress(done, size)
    if control.pace is not None:
        control.pace(chunk)


def _copy_metadata(fd: int, st: os.stat_result) -> None:
    # Ownership first: chown may clear set-id bits that chmod then puts back. Unprivileged
    # (tests, a container without PUID) the copy simply keeps the current owner.
    with contextlib.suppress(PermissionError):
        os.fchown(fd, st.st_uid, st.st_gid)
    os.fchmod(fd, stat.S_IMODE(st.st_mode))
    os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))
