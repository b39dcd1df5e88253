"""Fixing what the audit found, safely: atomic renames, and no file's last copy ever deleted.

Every fix re-resolves its paths through the `PathResolver` (a finding may come back from the
page) and re-checks the files on disk just before acting, because they may have changed
since the audit; when they have, the fix does nothing and says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import posixpath
import stat
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cacherr.atomic import fsync_dir
from cacherr.db import Database
from cacherr.errors import Conflict, PathRefused
from cacherr.files import names
from cacherr.files.audit import Finding, FixAction, temp_final
from cacherr.files.journal import Journal
from cacherr.files.ondisk import back_up_by_link, hide, link_over, put_back
from cacherr.files.paths import Location, PathResolver
from cacherr.files.sidecars import belongs_to, is_media

COMPARE_BLOCK_BYTES = 4 * 2**20
# Told how far a compare got: (bytes compared, bytes in all); called from a worker thread.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class FixResult:
    """What a fix did (`ok`) or why it did nothing."""

    finding: Finding
    ok: bool
    message: str


class _Unchanged(Exception):
    """The fix found the files not as the audit left them, and did nothing."""


async def apply_fix(
    finding: Finding,
    *,
    resolver: PathResolver,
    db: Database,
    mode: Literal["union", "symlink"] = "union",
    active_temps: Collection[Path] = (),
    progress: Callable[[Location], Progress] | None = None,
) -> FixResult:
    """Perform the fix the finding names; file work runs off the event loop.

    The caller keeps operations on the same file from running meanwhile (the executor's
    lock); `active_temps` are the temp paths running operations write, never removed.
    `progress` gives, for a file, what to tell how far comparing its two copies got.
    """
    try:
        message = await _dispatch(finding, resolver, db, mode, active_temps, progress)
    except (_Unchanged, PathRefused) as exc:
        return FixResult(finding, False, str(exc))
    return FixResult(finding, True, message)


async def apply_fixes(
    findings: Iterable[Finding],
    *,
    resolver: PathResolver,
    db: Database,
    mode: Literal["union", "symlink"] = "union",
    active_temps: Collection[Path] = (),
    progress: Callable[[Location], Progress] | None = None,
) -> list[FixResult]:
    """Fix several findings one after another, media files before the others.

    Media go first so that an adopted subtitle finds its adopted media file as its parent.
    """
    ordered = sorted(findings, key=lambda f: not is_media(Path(f.rel)))
    return [
        await apply_fix(
            f, resolver=resolver, db=db, mode=mode, active_temps=active_temps, progress=progress
        )
        for f in ordered
    ]


async def _dispatch(
    finding: Finding,
    resolver: PathResolver,
    db: Database,
    mode: Literal["union", "symlink"],
    active_temps: Collection[Path],
    progress: Callable[[Location], Progress] | None,
) -> str:
    loc = resolver.from_rel(finding.mapping, finding.rel)
    if finding.fix is FixAction.ADOPT:
        loc.require_cacheable()
        await asyncio.to_thread(_check_adoptable, loc)
        await _record(db, loc)
        return f"{loc.plex_path} is now managed by Cacherr"
    if finding.fix is FixAction.ADOPT_DUPLICATE:
        loc.require_cacheable()
        report = progress(loc) if progress is not None else None
        await asyncio.to_thread(_set_duplicate_aside, loc, mode, report)
        await _record(db, loc)
        return f"the array copy of {loc.plex_path} is now its backup; Cacherr manages the file"
    if finding.fix is FixAction.RESTORE_BACKUP:
        await asyncio.to_thread(_restore_backup, loc)
        return f"{loc.array_path} has its name back"
    if finding.fix is FixAction.REMOVE_TEMP:
        if finding.side not in ("array", "cache"):
            raise _Unchanged("a temp file finding must say which side it lies on")
        path = loc.array_path if finding.side == "array" else loc.cache_path
        await asyncio.to_thread(
            _remove_temp, path, resolver, finding.mapping, finding.rel, active_temps
        )
        return f"removed {path}"
    raise _Unchanged(f"{finding.kind.value} needs a person: {finding.explanation}")


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def _is_regular(st: os.stat_result | None) -> bool:
    return st is not None and stat.S_ISREG(st.st_mode)


def _is_link_to_cache(loc: Location) -> bool:
    st = _lstat(loc.array_path)
    if st is None or not stat.S_ISLNK(st.st_mode):
        return False
    target = os.path.join(loc.array_path.parent, os.readlink(loc.array_path))
    return os.path.realpath(target) == os.path.realpath(loc.cache_path)


def _check_adoptable(loc: Location) -> None:
    if not _is_regular(_lstat(loc.cache_path)) or not _is_regular(_lstat(loc.backup_path)):
        raise _Unchanged(f"{loc.plex_path} changed since the audit: run it again")
    # In symlink mode the original's name is a symlink to the cache copy; anything else
    # under that name is a conflict the audit reports separately.
    if _lstat(loc.array_path) is not None and not _is_link_to_cache(loc):
        raise _Unchanged(f"{loc.array_path} exists beside its backup: run the audit again")


def same_bytes(a: Path, b: Path, progress: Progress | None = None) -> bool:
    """Whether two files hold the same bytes, every one of them (blocking).

    Reads both side by side and stops at the first difference; `progress(bytes_done, size)`
    is called after each block. Adopting a duplicate is rare and deletes nothing, but the
    next restore drops the array version, so a sample of blocks is not enough.
    """
    size = os.stat(a).st_size
    if os.stat(b).st_size != size:
        return False
    done = 0
    with open(a, "rb", buffering=0) as fa, open(b, "rb", buffering=0) as fb:
        while True:
            block = fa.read(COMPARE_BLOCK_BYTES)
            if block != fb.read(COMPARE_BLOCK_BYTES):
                return False
            if not block:
                return done == size
            done += len(block)
            if progress is not None:
                progress(done, size)


def _set_duplicate_aside(
    loc: Location, mode: Literal["union", "symlink"], progress: Progress | None = None
) -> None:
    if not (_is_regular(_lstat(loc.array_path)) and _is_regular(_lstat(loc.cache_path))):
        raise _Unchanged(f"{loc.plex_path} changed since the audit: run it again")
    if _lstat(loc.backup_path) is not None:
        raise _Unchanged(f"{loc.backup_path} already exists: run the audit again")
    if not same_bytes(loc.array_path, loc.cache_path, progress):
        raise _Unchanged(
            f"the cache and array copies of {loc.plex_path} differ, so neither is touched; "
            "keep the one you want and delete the other"
        )
    try:
        if mode == "union":
            # The union share serves the cache copy from now on; rename keeps descriptors.
            hide(loc.array_path, loc.backup_path)
        else:
            # The original's name must never disappear: the backup starts as a second hard
            # link, then a symlink to the cache copy takes the name in one step.
            back_up_by_link(loc.array_path, loc.backup_path)
            link_over(loc.array_path, loc.cache_path, names.temp_path(loc.array_path, 0))
    except Conflict as exc:
        raise _Unchanged(f"{exc.message}: run the audit again") from None


def _restore_backup(loc: Location) -> None:
    if not _is_regular(_lstat(loc.backup_path)) or _lstat(loc.cache_path) is not None:
        raise _Unchanged(f"{loc.plex_path} changed since the audit: run it again")
    current = _lstat(loc.array_path)
    if current is not None and not stat.S_ISLNK(current.st_mode):
        raise _Unchanged(f"{loc.array_path} exists again: run the audit again")
    # A symlink (symlink mode) to the vanished cache copy is replaced in one step; anything
    # else that lands under the name meanwhile is kept.
    try:
        put_back(loc)
    except Conflict as exc:
        raise _Unchanged(f"{exc.message}: run the audit again") from None


def _remove_temp(
    path: Path,
    resolver: PathResolver,
    mapping: str,
    rel: str,
    active_temps: Collection[Path],
) -> None:
    if not names.is_temp(path):
        raise _Unchanged(f"{path} is not one of Cacherr's temp files")
    if os.path.normpath(path) in {os.path.normpath(p) for p in active_temps}:
        raise _Unchanged(f"{path} belongs to a running operation")
    st = _lstat(path)
    if st is None or stat.S_ISDIR(st.st_mode):
        raise _Unchanged(f"{path} changed since the audit: run it again")
    final = temp_final(rel, _names_beside(resolver, mapping, rel))
    if final is None or not _has_a_copy(resolver.from_rel(mapping, final)):
        raise _Unchanged(f"no other copy of {path}'s file exists, so it is kept")
    os.unlink(path)
    fsync_dir(path.parent)


def _names_beside(resolver: PathResolver, mapping: str, rel: str) -> list[str]:
    """The names in the folder of `rel` on both sides (backups under their media's name)."""
    roots = resolver.mapping(mapping)
    found: list[str] = []
    for root in (roots.array, roots.cache):
        with contextlib.suppress(OSError):
            found += os.listdir(Path(root) / posixpath.dirname(rel))
    return [name.removesuffix(names.BACKUP_SUFFIX) for name in found]


def _has_a_copy(loc: Location) -> bool:
    return any(_lstat(p) is not None for p in (loc.array_path, loc.cache_path, loc.backup_path))


async def _record(db: Database, loc: Location) -> None:
    """Insert the managed file's row (sizes from the cache copy); a second adoption is a no-op.

    The files are renamed before the row is written: if the row is lost, the next audit
    finds an adoptable file again instead of a managed row without its files.
    """
    st = await asyncio.to_thread(os.stat, loc.cache_path)
    parent_id = await _parent_id(db, loc)
    # No fingerprint: nobody saw the copy being made, so a restore must treat the cache
    # copy as possibly changed and copy it back rather than trust the backup blindly.
    await db.execute(
        "INSERT INTO managed_files (mapping, rel_path, plex_path, parent_id, state, size_bytes,"
        " mtime_ns, fingerprint, has_backup, adopted, cached_at)"
        " VALUES (?, ?, ?, ?, 'cached', ?, ?, NULL, 1, 1, ?)"
        " ON CONFLICT (mapping, rel_path) DO NOTHING",
        (loc.mapping_name, loc.rel, loc.plex_path, parent_id, st.st_size, st.st_mtime_ns,
         time.time()),
    )  # fmt: skip


async def _parent_id(db: Database, loc: Location) -> int | None:
    """The managed media file a sidecar belongs to (same folder, its stem), if any."""
    if is_media(Path(loc.rel)):
        return None
    folder = posixpath.dirname(loc.rel)
    candidates = await Journal(db).in_folder(loc.mapping_name, folder)
    name = Path(posixpath.basename(loc.rel))
    for media in sorted(candidates, key=lambda m: len(m.rel_path), reverse=True):
        media_name = Path(posixpath.basename(media.rel_path))
        if media.parent_id is None and is_media(media_name) and belongs_to(media_name, name, "all"):
            return media.id
    return None
