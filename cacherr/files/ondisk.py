"""The file actions of the protocol, one small blocking function each (run them off-loop).

Each action is the single rename, link or unlink a journal step announces, made durable by
fsyncing its folder. `undo_cache` and `redo_cache` bring a cache operation back or forward
from whatever step it stopped at; the live protocol and start-up recovery share them, so a
failure now and a crash now end the same way.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cacherr.atomic import current_umask, fsync_dir
from cacherr.errors import CacherrError, Conflict, NotFound, PathRefused
from cacherr.files import names
from cacherr.files.model import HIDING, LINKING, PUBLISHING, FileLocation
from cacherr.files.rename import is_same_file, is_symlink_to, rename_noreplace, replace_expected
from cacherr.files.verify import fingerprint


class UnexpectedState(CacherrError):
    """The files are not in any state the protocol leaves them in; a person must look."""

    status = 409
    code = "unexpected_state"


def lstat_or_none(path: Path) -> os.stat_result | None:
    """`os.lstat`, or None when nothing has that name."""
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:  # no file can have that name
            return None
        raise


def is_regular(st: os.stat_result | None) -> bool:
    """Whether an lstat result is a regular file (not a symlink, not missing)."""
    return st is not None and stat.S_ISREG(st.st_mode)


def unlink_quiet(path: Path | None) -> bool:
    """Unlink if present (fsyncing the folder); returns whether something was removed."""
    if path is None:
        return False
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:  # no file can have that name
            return False
        raise
    fsync_removal(path.parent)
    return True


def fsync_removal(folder: Path) -> None:
    """Make a removal from `folder` durable: fsync it, or, when it is gone meanwhile (a
    sibling's restore removed it once empty), the nearest folder above that still exists,
    whose removal of it, once durable, holds this removal too."""
    while True:
        try:
            fsync_dir(folder)
            return
        except FileNotFoundError:
            if folder.parent == folder:
                raise
            folder = folder.parent


# --- before a copy ---------------------------------------------------------------------


def inspect_source(loc: FileLocation) -> os.stat_result:
    """The array original's stat, refusing anything the protocol must not start on."""
    if not loc.mapping.cacheable:
        raise PathRefused(f"mapping {loc.mapping.name!r} is set cacheable: false")
    cache_root = Path(loc.mapping.cache)
    if not cache_root.is_dir():
        # Writing under a missing pool folder would land on the container's own disk.
        raise NotFound(f"the cache folder {cache_root} does not exist (is the pool mounted?)")
    st = lstat_or_none(loc.array_path)
    if st is None:
        if os.path.lexists(loc.backup_path):
            raise Conflict(f"{loc.array_path} is already hidden as {loc.backup_path.name}")
        raise NotFound(f"{loc.array_path} does not exist")
    if not stat.S_ISREG(st.st_mode):
        raise PathRefused(f"{loc.array_path} is not a regular file (a symlink or a folder)")
    backup_bytes = len(os.fsencode(loc.backup_path.name))
    if backup_bytes > names.NAME_MAX_BYTES:
        raise PathRefused(
            f"{loc.array_path.name!r} is too long to cache: its backup name (with "
            f"{names.BACKUP_SUFFIX}) would be {backup_bytes} bytes, more than file systems "
            f"allow ({names.NAME_MAX_BYTES})"
        )
    for other in (loc.cache_path, loc.backup_path):
        if os.path.lexists(other):
            raise Conflict(f"{other} already exists; the audit can adopt or clean it")
    return st


def missing_dirs(loc: FileLocation, *, side: str = "cache") -> list[str]:
    """The folders the file needs on `side` that do not exist yet, outermost first."""
    if side == "cache":
        root, folder = Path(loc.mapping.cache), loc.cache_path.parent
    else:
        root, folder = Path(loc.mapping.array), loc.array_path.parent
    missing = []
    while folder != root and not os.path.lexists(folder):
        missing.append(str(folder))
        folder = folder.parent
    return missing[::-1]


def make_dirs(loc: FileLocation, *, side: str = "cache", sync: bool = True) -> list[str]:
    """Create the folders the file needs on `side` that are missing now (`missing_dirs`),
    with their twins' owner and mode (the same folders on the other side); returns those
    this call made. Each is made durable (its parent fsynced) unless `sync` is false: then
    the caller fsyncs the parents before anything relies on the folders.

    Looked for again here, not taken from the caller's earlier look: a folder in place then
    may be gone since (the last file of a sibling went back, and the folder its copy had
    made with it), and one missing then may have been made by another copy meanwhile (it is
    that copy's to remove).
    """
    here, there = (loc.mapping.cache, loc.mapping.array)
    if side != "cache":
        here, there = there, here
    created: list[str] = []
    for folder in missing_dirs(loc, side=side):  # outermost first
        twin = Path(there) / Path(folder).relative_to(here)
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            continue  # another operation made it: it is that operation's to remove
        created.append(folder)
        twin_st = lstat_or_none(twin)
        if twin_st is not None and stat.S_ISDIR(twin_st.st_mode):
            with contextlib.suppress(PermissionError):
                os.chown(folder, twin_st.st_uid, twin_st.st_gid)
            os.chmod(folder, stat.S_IMODE(twin_st.st_mode))
        else:
            os.chmod(folder, 0o777 & ~current_umask())
        if sync:
            fsync_dir(Path(folder).parent)
    return created


def remove_empty_dirs(dirs: list[str]) -> list[str]:
    """Remove the folders of `dirs` that are empty, innermost first; returns those kept."""
    kept: list[str] = []
    for folder in sorted(dirs, key=len, reverse=True):
        try:
            os.rmdir(folder)
        except FileNotFoundError:
            continue
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            kept.append(folder)
            continue
        fsync_removal(Path(folder).parent)
    return kept


# --- caching ---------------------------------------------------------------------------


@contextlib.contextmanager
def _refused(message: str) -> Iterator[None]:
    """Turn a rename that refused to replace a file into a `Conflict` saying what was kept."""
    try:
        yield
    except FileExistsError:
        raise Conflict(message) from None


# Each action below fsyncs its folder unless `sync=False`: then the caller fsyncs it (once
# for several actions in the same folder, as a batch does) before it journals the next step.


def publish(temp: Path, final: Path, *, sync: bool = True) -> None:
    """Give the verified temp copy its final name on the cache (never over another file)."""
    with _refused(f"{final} appeared while it was being copied; it was kept, the copy dropped"):
        rename_noreplace(temp, final)
    if sync:
        fsync_dir(final.parent)


def hide(array: Path, backup: Path, *, sync: bool = True) -> None:
    """Union mode: rename the array original aside, so the union serves the cache copy."""
    with _refused(f"{backup} already exists; it was kept"):
        rename_noreplace(array, backup)
    if sync:
        fsync_dir(array.parent)


def back_up_by_link(array: Path, backup: Path, *, sync: bool = True) -> None:
    """Symlink mode: a second name for the original; the array name stays in place."""
    os.link(array, backup)
    if sync:
        fsync_dir(array.parent)


def link_over(array: Path, cache: Path, symlink_temp: Path, *, sync: bool = True) -> None:
    """Symlink mode: a symlink to the cache copy takes the array name in one rename."""
    unlink_quiet(symlink_temp)
    os.symlink(cache, symlink_temp)
    # Only the original (a second name of its backup) may give way to the symlink.
    try:
        replace_expected(symlink_temp, array, is_same_file(names.backup_path(array)))
    except FileExistsError:
        unlink_quiet(symlink_temp)  # still our symlink: the names were swapped back
        raise Conflict(f"{array} was replaced while it was being cached; it was kept") from None
    if sync:
        fsync_dir(array.parent)


@dataclass(frozen=True)
class CachedCopy:
    """What the database records of a cache copy."""

    size_bytes: int
    mtime_ns: int
    fingerprint: str


def describe(cache: Path) -> CachedCopy:
    """Size, modification time and fingerprint of a cache copy."""
    st = os.stat(cache)
    return CachedCopy(st.st_size, st.st_mtime_ns, fingerprint(cache))


def undo_cache(
    step: str, loc: FileLocation, temp: Path | None, symlink_temp: Path, *, published: bool
) -> None:
    """Put everything back as it was before the cache operation began (any step).

    The original returns to its name first; the cache copy is removed only once it is.
    """
    if step == PUBLISHING and temp is not None and is_regular(lstat_or_none(temp)):
        published = False  # the rename did not happen: the file at the final name is not ours
    unlink_quiet(temp)
    unlink_quiet(symlink_temp)
    array, backup = loc.array_path, loc.backup_path
    a, b = lstat_or_none(array), lstat_or_none(backup)
    linked = is_regular(b) and a is not None and stat.S_ISLNK(a.st_mode)
    swapped = is_regular(a) and b is not None and stat.S_ISLNK(b.st_mode)  # see rename.py
    if step == LINKING and (linked or swapped):
        with _refused(f"{array} changed; {backup.name} and the cache copy were kept"):
            replace_expected(backup, array, is_symlink_to(loc.cache_path))
        fsync_dir(array.parent)
    elif step == HIDING and a is None and is_regular(b):
        with _refused(f"{array} appeared; {backup.name} and the cache copy were kept"):
            rename_noreplace(backup, array)
        fsync_dir(array.parent)
    elif is_regular(a) and is_regular(b) and os.path.samestat(a, b):  # type: ignore[arg-type]
        unlink_quiet(backup)  # the second name of symlink mode's backup step
    if published:
        if not is_regular(lstat_or_none(array)):
            raise UnexpectedState(f"{array} is missing; the cache copy {loc.cache_path} was kept")
        unlink_quiet(loc.cache_path)


def redo_cache(step: str, loc: FileLocation, symlink_temp: Path) -> CachedCopy:
    """Finish a cache operation whose copy was published (steps hiding, backing_up, linking).

    Raises `UnexpectedState` when the original no longer matches the copy (then undo).
    """
    unlink_quiet(symlink_temp)
    array, backup, cache = loc.array_path, loc.backup_path, loc.cache_path
    a, b, c = lstat_or_none(array), lstat_or_none(backup), lstat_or_none(cache)
    original = a if is_regular(a) else b
    if not is_regular(c) or not is_regular(original):
        raise UnexpectedState(f"{cache} or its original is missing")
    assert c is not None and original is not None
    if (original.st_size, original.st_mtime_ns) != (c.st_size, c.st_mtime_ns):
        raise UnexpectedState(f"{array} changed after it was copied")
    if step == HIDING:
        if is_regular(a) and b is None:
            hide(array, backup)
        elif a is not None or not is_regular(b):
            raise UnexpectedState(f"both {array} and {backup.name} exist")
    else:
        if b is None:
            back_up_by_link(array, backup)
        if not stat.S_ISLNK(os.lstat(array).st_mode):
            link_over(array, cache, symlink_temp)
    return describe(cache)


# --- restoring -------------------------------------------------------------------------


def restore_route(loc: FileLocation, size_bytes: int, mtime_ns: int, fp: str | None) -> str:
    """How a managed file goes back: `return`, `repair`, `copy` or `release`.

    The rule (the README's "promise to your files"): a cache copy whose size or modification
    time differs from what was recorded when it was cached was replaced or rewritten on
    purpose (Sonarr/Radarr write a new file with its own time): an upgrade, copied back.
    A cache copy with the recorded size and time is not an upgrade, whatever its bytes: the
    backup is renamed back (`return`); when its sampled fingerprint no longer matches, its
    bytes changed without a write that moves the time, i.e. damage (bit rot, a failing SSD),
    and the route is `repair`: the backup is renamed back all the same and the damaged copy
    reported. Without a backup (adopted from a duplicate) the copy is all there is: `copy`.
    `release` when the original is already back and only the cache copy is left to remove.
    """
    a, b = lstat_or_none(loc.array_path), lstat_or_none(loc.backup_path)
    c = lstat_or_none(loc.cache_path)
    if not is_regular(c):
        if is_regular(b) and not is_regular(a):
            return "return"
        if is_regular(a) and b is None:
            return "release"
        raise UnexpectedState(f"{loc.cache_path} and its backup are both missing")
    assert c is not None
    if is_regular(a):
        assert a is not None
        if b is None and (a.st_size, a.st_mtime_ns) == (c.st_size, c.st_mtime_ns):
            return "release"
        raise Conflict(f"{loc.array_path} exists and differs from its cache copy")
    if not is_regular(b):
        return "copy"
    if (c.st_size, c.st_mtime_ns) != (size_bytes, mtime_ns):
        return "copy"  # an upgrade
    # No fingerprint (adopted from an earlier PlexCache): nobody saw the copy being made.
    if fp is None:
        return "copy"
    return "return" if fingerprint(loc.cache_path, like=fp) == fp else "repair"


def damage_report(loc: FileLocation) -> str:
    """What the user is told about a damaged cache copy (route `repair`)."""
    return (
        f"the cache copy {loc.cache_path} was damaged (its bytes changed while its size and "
        f"time did not); the original was put back from {loc.backup_path.name} and the "
        "damaged copy removed: check the pool's health (SMART, a scrub)"
    )


def put_back(loc: FileLocation) -> None:
    """Rename the backup to the array name (over Cacherr's symlink in symlink mode only)."""
    with _refused(f"{loc.array_path} exists; {loc.backup_path.name} was kept"):
        replace_expected(loc.backup_path, loc.array_path, is_symlink_to(loc.cache_path))
    fsync_dir(loc.array_path.parent)


def replace_from_temp(loc: FileLocation, temp: Path) -> None:
    """The copied-back file takes the array name; the outdated backup goes."""
    with _refused(f"{loc.array_path} exists; the copy {temp.name} was kept"):
        replace_expected(temp, loc.array_path, is_symlink_to(loc.cache_path))
    fsync_dir(loc.array_path.parent)
    unlink_quiet(loc.backup_path)


def release(loc: FileLocation, dirs: list[str]) -> list[str]:
    """Remove the cache copy and the created folders it leaves empty; returns those kept."""
    if not is_regular(lstat_or_none(loc.array_path)):
        raise UnexpectedState(f"{loc.array_path} is not back; {loc.cache_path} was kept")
    unlink_quiet(loc.cache_path)
    return remove_empty_dirs(dirs)
