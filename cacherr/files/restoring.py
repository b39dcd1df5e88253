"""Restoring one file: the journaled sequence that puts a managed file back on the array.

- unchanged cache copy (size, mtime and fingerprint as when cached) and a backup: rename
  `<name>.plexcached` back to the array name (over the symlink in symlink mode), then
  unlink the cache copy. A rename keeps the inode, so other hard links stay intact;
- changed cache copy (an upgrade by Sonarr/Radarr) or no backup (adopted): copy the cache
  copy to a hidden temp name on the array, fsync, verify, rename it over the array name,
  drop the outdated backup, then unlink the cache copy;
- in both, the cache folders Cacherr created and that are now empty go too, and the
  managed row is deleted with the journal marked done in one transaction.

The user-visible name never disappears: in union mode the cache copy serves until the
array file is back, in symlink mode a rename replaces the symlink.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from cacherr.db import Database
from cacherr.errors import Conflict, InsufficientSpace
from cacherr.files import names
from cacherr.files.copy import CopyControl, copy_to_temp
from cacherr.files.journal import ManagedFile
from cacherr.files.model import (
    CACHED,
    COPYING_BACK,
    RELEASING,
    REPLACING,
    RETURNING,
    VERIFYING_BACK,
    FileLocation,
    Outcome,
    ProtocolOptions,
)
from cacherr.files.offload import run_blocking, run_bulk
from cacherr.files.ondisk import (
    damage_report,
    is_regular,
    lstat_or_none,
    make_dirs,
    put_back,
    release,
    replace_from_temp,
    restore_route,
    unlink_quiet,
)
from cacherr.files.run import OperationRun
from cacherr.files.space import pool_space
from cacherr.files.verify import verify_copy

log = logging.getLogger(__name__)

# Steps after which the array name already holds the file again: only forward from there.
COMMITTED_STEPS = frozenset({RETURNING, REPLACING, RELEASING})


def array_room(loc: FileLocation, size: int) -> None:
    """Blocking: raise `InsufficientSpace` unless the array folder can take `size` bytes."""
    free = pool_space(Path(loc.mapping.array)).free_bytes
    if size > free:
        raise InsufficientSpace(
            f"copying {loc.cache_path} back needs {size} bytes; the array has {free} free",
            details={"size_bytes": size, "free_bytes": free},
        )


def step_taken(step: str, loc: FileLocation, temp: Path | None) -> bool:
    """Whether the rename a committed step announces happened (then only forward is left).

    Judged by the name it moves away (the backup, the temp), never by the array name alone:
    a file an import put there meanwhile is not the restored one.
    """
    back = is_regular(lstat_or_none(loc.array_path))
    if step == RETURNING:
        return back and lstat_or_none(loc.backup_path) is None
    if step == REPLACING:
        return back and (temp is None or lstat_or_none(temp) is None)
    return back


class _RestoreRun(OperationRun):
    def __init__(self, db: Database, loc: FileLocation, options: ProtocolOptions) -> None:
        super().__init__("restore", db, loc, options)

    async def clean_up(self, state: str, error: str) -> None:
        """End without restoring: drop the array temp; the file stays cached."""
        taken = await asyncio.to_thread(step_taken, self.step, self.loc, self.temp)
        if self.step in COMMITTED_STEPS and taken:
            # The array name already has the file back: finishing is recovery's job now.
            log.error("Restoring %s stopped at %s: %s", self.loc.array_path, self.step, error)
            await self.journal.note_error(self.op_id, error)
            return
        try:
            await asyncio.to_thread(unlink_quiet, self.temp)
        except OSError as exc:
            await self.journal.note_error(self.op_id, f"{error}; clean-up failed: {exc}")
            return
        await self.journal.finish(self.op_id, state, error=error)


async def restore_file(
    db: Database,
    loc: FileLocation,
    options: ProtocolOptions,
    *,
    control: CopyControl | None = None,
    reason: str | None = None,
) -> Outcome:
    """Put one managed file back on the array as the module docstring describes."""
    control = control or CopyControl()
    run = _RestoreRun(db, loc, options)
    await run.begin(reason)
    return await run.settle(_restore_steps(run, control))


async def _restore_steps(run: _RestoreRun, control: CopyControl) -> Outcome:
    loc, journal, cancel = run.loc, run.journal, control.cancel
    managed = await journal.managed(loc.mapping.name, loc.rel)
    if managed is None:
        raise Conflict(f"{loc.plex_path} is not managed by Cacherr")
    if managed.state != CACHED:
        raise Conflict(f"{loc.plex_path} is {managed.state}, not cached")
    run.size = managed.size_bytes
    route = await run_blocking(
        cancel, restore_route, loc, managed.size_bytes, managed.mtime_ns, managed.fingerprint
    )
    if route in ("return", "repair"):
        await run.enter(RETURNING)
        await run_blocking(cancel, put_back, loc)
    elif route == "copy":
        await _copy_back(run, control, managed)
    await run.enter(RELEASING)
    kept = await run_blocking(cancel, release, loc, managed.created_dirs)
    await journal.complete_restore(run.op_id, managed, Path(loc.mapping.cache), kept)
    if route == "repair":
        warning = damage_report(loc)
        log.warning("Restoring %s: %s", loc.plex_path, warning)
        return run.outcome("done", detail={"warning": warning})
    log.info("Restored %s (%s)", loc.array_path, route)
    return run.outcome("done")


async def _copy_back(run: _RestoreRun, control: CopyControl, managed: ManagedFile) -> None:
    loc, cancel = run.loc, control.cancel
    size = (await asyncio.to_thread(loc.cache_path.stat)).st_size
    run.size = size
    await run_blocking(cancel, array_room, loc, size)
    # A file that only ever lived on the cache (adopted) may have no array folder yet; like
    # the mover, make it. It will hold the file, so it is not recorded for removal.
    await run_blocking(cancel, make_dirs, loc, side="array")
    run.temp = names.temp_path(loc.array_path, run.op_id)
    await run.enter(COPYING_BACK, temp_path=run.temp, size_bytes=size)
    copied = await run_bulk(
        cancel, copy_to_temp, loc.cache_path, run.temp, control,
        chunk_bytes=run.options.chunk_bytes, size_bytes=size,
    )  # fmt: skip
    await run.enter(VERIFYING_BACK, bytes_done=copied.size)
    await run_bulk(cancel, verify_copy, loc.cache_path, run.temp, run.options.verify,
                   size_bytes=size)  # fmt: skip
    control.check()
    await run.enter(REPLACING)
    await run_blocking(cancel, replace_from_temp, loc, run.temp)
