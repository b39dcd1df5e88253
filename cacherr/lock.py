"""One daemon per config folder: an advisory lock file that names its holder."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from cacherr.errors import Conflict

LOCK_NAME = "cacherr.lock"


class InstanceLock:
    """Held for the daemon's lifetime; the kernel releases it if the process dies."""

    def __init__(self, config_dir: Path) -> None:
        self.path = config_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise `Conflict` naming the process that holds it."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise Conflict(
                f"another Cacherr (pid {holder}) is already running on {self.path.parent}; "
                "stop it first or use another --config-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Let go of the lock."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
