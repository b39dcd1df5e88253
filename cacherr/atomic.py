"""Small files written whole or not at all: temp file in the same folder, fsync, rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

PROC_STATUS = Path("/proc/self/status")


def atomic_write_text(path: Path, text: str, *, new_file_mode: int = 0o666) -> None:
    """Replace `path` with `text` atomically, keeping the mode (and owner) of an existing file.

    A new file gets `new_file_mode` less the process's umask (the container's UMASK).
    """
    try:
        st: os.stat_result | None = path.stat()
    except FileNotFoundError:
        st = None
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, st.st_mode & 0o7777 if st else new_file_mode & ~current_umask())
        if st is not None:
            with contextlib.suppress(PermissionError):
                os.chown(tmp_name, st.st_uid, st.st_gid)
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    fsync_dir(path.parent)


def current_umask() -> int:
    """The process's umask, as Linux (4.7 and later) shows it in /proc/self/status.

    Python can only read the umask by setting it, and for that instant every thread creating a
    file would get the wrong mode: that way is the fallback, for systems without the line.
    """
    with contextlib.suppress(OSError, ValueError):
        for line in PROC_STATUS.read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def fsync_file(path: Path) -> None:
    """Make the bytes written to `path` durable (through a new descriptor)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(folder: Path) -> None:
    """Make a rename or creation in `folder` durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
