"""What the daemon's own user may do on the array: rename there, and give copies away.

Blocking stat calls over a small breadth-first sample; nothing is written.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

_SAMPLE_ENTRIES = 64


def sample(root: Path) -> tuple[list[Path], list[os.stat_result]]:
    """Up to `_SAMPLE_ENTRIES` folders and files below `root`, breadth first."""
    folders, pending = [root], [root]
    files: list[os.stat_result] = []
    while pending and len(folders) + len(files) < _SAMPLE_ENTRIES:
        try:
            entries = sorted(os.scandir(pending.pop(0)), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries[:_SAMPLE_ENTRIES]:
            if entry.is_dir(follow_symlinks=False):
                folders.append(Path(entry.path))
                pending.append(Path(entry.path))
            elif entry.is_file(follow_symlinks=False):
                files.append(entry.stat(follow_symlinks=False))
    return folders, files


def can_rename_in(folder: Path, uid: int) -> bool:
    """Whether `uid` (this process) may rename entries of `folder`."""
    if not os.access(folder, os.W_OK | os.X_OK):
        return False
    st = os.stat(folder)
    # A sticky folder lets only the owners of the folder or of each file rename it.
    return not (st.st_mode & stat.S_ISVTX) or st.st_uid == uid or can_chown()


def owner_of(path: Path) -> str:
    """`uid:gid` of `path`."""
    st = os.stat(path)
    return f"{st.st_uid}:{st.st_gid}"


def can_chown() -> bool:
    """Whether this process may give files away (CAP_CHOWN, bit 0 of the effective set)."""
    try:
        status = Path("/proc/self/status").read_text(encoding="ascii")
    except OSError:
        return os.geteuid() == 0
    for line in status.splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) & 1)
    return os.geteuid() == 0
