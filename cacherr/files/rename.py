"""Renames to a final name that never replace a file Cacherr did not expect there.

A check (`lexists`) followed by `os.rename` silently replaces a file that an import writes
in between. `rename_noreplace` asks the kernel to refuse instead (`renameat2` with
`RENAME_NOREPLACE`); on a file system without it, a hard link (which refuses an existing
name too) then an unlink of the old name. `replace_expected` is for the renames that must
take a name holding Cacherr's own symlink: it swaps the two names atomically
(`RENAME_EXCHANGE`), looks at what it took out and swaps back if that was not what was
expected. Where the kernel or the file system has neither, the last resort is the check
and the rename as before, and the window is as narrow as it can be.

All blocking; the callers fsync the folder.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Final

_AT_FDCWD: Final = -100
_RENAME_NOREPLACE: Final = 1
_RENAME_EXCHANGE: Final = 2
# What a kernel or file system answers when it does not know a flag or the call.
_UNSUPPORTED: Final = frozenset({errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP})

_libc = ctypes.CDLL(None, use_errno=True)
_renameat2 = getattr(_libc, "renameat2", None)


class _Unsupported(Exception):
    pass


def _rename2(src: Path, dst: Path, flags: int) -> None:
    if _renameat2 is None:
        raise _Unsupported
    result = _renameat2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), flags)
    if result == 0:
        return
    code = ctypes.get_errno()
    if code in _UNSUPPORTED:
        raise _Unsupported
    raise OSError(code, os.strerror(code), str(src), None, str(dst))


def rename_noreplace(src: Path, dst: Path) -> None:
    """Rename `src` to `dst`, raising `FileExistsError` if anything has the name `dst`."""
    try:
        _rename2(src, dst, _RENAME_NOREPLACE)
        return
    except _Unsupported:
        pass
    try:
        os.link(src, dst, follow_symlinks=False)  # EEXIST if the name is taken
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in (*_UNSUPPORTED, errno.EPERM, errno.EMLINK, errno.EXDEV):
            raise
        if os.path.lexists(dst):  # no hard links here either: check, then rename
            raise _exists(dst) from None
        os.rename(src, dst)
        return
    os.unlink(src)


def replace_expected(src: Path, dst: Path, expected: Callable[[Path], bool]) -> None:
    """Rename `src` to `dst`; a file already at `dst` is replaced only if `expected` says
    it is what Cacherr left there (`expected` gets the path that holds it at that moment).

    Raises `FileExistsError`, leaving both names as they were, when `dst` holds anything
    else, e.g. a file an import wrote there meanwhile.
    """
    if not os.path.lexists(dst):
        rename_noreplace(src, dst)
        return
    if expected(src):
        # A crash came between the exchange below and its unlink: `dst` already holds the
        # new file, `src` what was expected there. Finish it.
        os.unlink(src)
        return
    if not expected(dst):
        raise _exists(dst)
    try:
        _rename2(src, dst, _RENAME_EXCHANGE)
    except _Unsupported:
        if not expected(dst):
            raise _exists(dst) from None
        os.replace(src, dst)
        return
    except FileNotFoundError:  # `dst` went away meanwhile: nothing to replace
        rename_noreplace(src, dst)
        return
    # `src` now holds what was at `dst`: drop it if it was what we expected, else swap back.
    if expected(src):
        os.unlink(src)
        return
    _rename2(src, dst, _RENAME_EXCHANGE)
    raise _exists(dst)


def _exists(path: Path) -> FileExistsError:
    return FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path))


def is_symlink_to(target: Path) -> Callable[[Path], bool]:
    """An `expected` for `replace_expected`: a symlink to `target` (what Cacherr makes)."""

    def check(path: Path) -> bool:
        return stat.S_ISLNK(os.lstat(path).st_mode) and os.readlink(path) == str(target)

    return check


def is_same_file(other: Path) -> Callable[[Path], bool]:
    """An `expected` for `replace_expected`: another name of the file `other`."""

    def check(path: Path) -> bool:
        return os.path.samestat(os.lstat(path), os.lstat(other))

    return check
