"""Caching one file: the journaled sequence that puts an array file on the pool.

1. journal the operation, then check the source (hard links, space) and claim its row;
2. create missing cache folders (recorded first, so a rollback removes only its own);
3. copy to a hidden temp name beside the final one, fsync, keep owner, mode and times;
4. verify (`cache.verify`); 5. rename the temp to the final name;
6. union mode: rename the array original to `<name>.plexcached`, so Unraid's union serves
   the cache copy. Symlink mode: hard-link the original to `<name>.plexcached`, then rename a
   symlink to the cache copy over the array name, so the name is always there: first the
   original, then the symlink, never nothing;
7. the row becomes `cached` and the journal `done` in one transaction.

Any failure before step 7 undoes what was done, in reverse; the original is only ever
read or renamed, never written.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from cacherr.db import Database
from cacherr.errors import CacherrError, InsufficientSpace
from cacherr.files import names
from cacherr.files.copy import CopyControl, CopyResult, copy_to_temp
from cacherr.files.journal import Budget
from cacherr.files.model import (
    BACKING_UP,
    COPYING,
    HIDING,
    LINKING,
    MKDIR,
    PUBLISHING,
    SKIPPED,
    VERIFYING,
    FileLocation,
    Outcome,
    ProtocolOptions,
)
from cacherr.files.offload import run_blocking, run_bulk
from cacherr.files.ondisk import (
    back_up_by_link,
    hide,
    inspect_source,
    link_over,
    lstat_or_none,
    make_dirs,
    missing_dirs,
    publish,
    remove_empty_dirs,
    undo_cache,
)
from cacherr.files.run import OperationRun
from cacherr.files.space import PoolSpace, check_space, pool_space
from cacherr.files.verify import verify_copy

log = logging.getLogger(__name__)

PUBLISHED_STEPS = frozenset({PUBLISHING, HIDING, BACKING_UP, LINKING})


def hardlink_skip_reason(st: os.stat_result, options: ProtocolOptions) -> str | None:
    """Why a file with several hard links is left alone, or None to copy it."""
    if st.st_nlink > 1 and options.hardlinks == "skip":
        return f"the file has {st.st_nlink} hard links (cache.hardlinks = skip)"
    return None


def space_admission(loc: FileLocation, size: int, options: ProtocolOptions, budget: Budget) -> None:
    """Blocking: raise `InsufficientSpace` unless `size` more bytes fit on the pool."""
    refused = admit_in_turn([(loc, size)], options, budget)[0]
    if refused is not None:
        raise refused


def admit_in_turn(
    files: list[tuple[FileLocation, int]], options: ProtocolOptions, budget: Budget
) -> list[InsufficientSpace | None]:
    """Blocking: for each (file, size) in turn, None if it fits on the pool beside those
    admitted before it, or why not. Each pool's free space is read once."""
    written = sum(_written(p) for p in budget.temp_paths)
    managed, pending = budget.managed_bytes, max(0, budget.caching_bytes - written)
    pools: dict[str, PoolSpace] = {}
    verdicts: list[InsufficientSpace | None] = []
    for loc, size in files:
        root = loc.mapping.cache
        if root not in pools:
            pools[root] = pool_space(Path(root))
        try:
            check_space(size, pools[root], min_free=options.min_free, limit=options.limit,
                        managed_bytes=managed, pending_bytes=pending)  # fmt: skip
        except InsufficientSpace as exc:
            verdicts.append(exc)
            continue
        managed += size
        pending += size
        verdicts.append(None)
    return verdicts


def _written(temp: Path) -> int:
    """Bytes a running copy has written so far; 0 when its temp cannot be read (that copy's
    own problem, which must not refuse every other file)."""
    try:
        st = lstat_or_none(temp)
    except OSError:
        return 0
    return st.st_size if st is not None else 0


class CacheRun(OperationRun):
    """The state of one cache operation while it runs (what clean-up needs to know)."""

    def __init__(self, db: Database, loc: FileLocation, options: ProtocolOptions) -> None:
        super().__init__("cache", db, loc, options)
        self.claimed = False

    async def clean_up(self, state: str, error: str) -> None:
        """Roll back to before the operation; if even that fails, leave it to recovery."""
        symlink_temp = names.temp_path(self.loc.array_path, self.op_id)
        published = self.step in PUBLISHED_STEPS
        try:
            await asyncio.to_thread(
                undo_cache, self.step, self.loc, self.temp, symlink_temp, published=published
            )
            if self.claimed:
                managed = await self.journal.managed(self.loc.mapping.name, self.loc.rel)
                if managed is not None:
                    await asyncio.to_thread(remove_empty_dirs, managed.created_dirs)
        except (OSError, CacherrError) as exc:
            log.error("Could not undo caching %s: %s", self.loc.array_path, exc)
            await self.journal.note_error(self.op_id, f"{error}; undo failed: {exc}")
            return
        if self.claimed:
            await self.journal.abandon_cache(
                self.op_id, self.loc.mapping.name, self.loc.rel, state, error=error
            )
        else:
            await self.journal.finish(self.op_id, state, error=error)


async def cache_file(
    db: Database,
    loc: FileLocation,
    options: ProtocolOptions,
    *,
    control: CopyControl | None = None,
    rating_key: str | None = None,
    reason: str | None = None,
) -> Outcome:
    """Put one array file on the cache as the module docstring describes.

    Returns how it ended (`done`, `skipped`, `failed` or `cancelled`); the journal and the
    files agree in every case. Cancelling the awaiting task cancels the copy cleanly and
    re-raises.
    """
    control = control or CopyControl()
    run = CacheRun(db, loc, options)
    await run.begin(reason)
    return await run.settle(_cache_steps(run, control, rating_key))


async def _copy(run: CacheRun, control: CopyControl, created: list[str]) -> CopyResult:
    """The copy to the temp name. Its folder may be gone since it was made: a sibling's
    restore, the last file in it going back, removes it while empty. Then it is made again
    (journaled first, like the folders before) and the copy tried once more."""
    loc, journal, cancel, temp = run.loc, run.journal, control.cancel, run.temp
    assert temp is not None

    async def copy() -> CopyResult:
        return await run_bulk(
            cancel, copy_to_temp, loc.array_path, temp, control,
            chunk_bytes=run.options.chunk_bytes, size_bytes=run.size,
        )  # fmt: skip

    try:
        return await copy()
    except FileNotFoundError:
        missing = await run_blocking(cancel, missing_dirs, loc)
        if not missing:
            raise  # the source is gone
    log.info("The folder of %s went away before its copy; making it again", loc.cache_path)
    await journal.set_created_dirs(loc.mapping.name, loc.rel, [*created, *missing])
    made = await run_blocking(cancel, make_dirs, loc)
    if made != missing:
        await journal.set_created_dirs(loc.mapping.name, loc.rel, [*created, *made])
    return await copy()


async def _cache_steps(run: CacheRun, control: CopyControl, rating_key: str | None) -> Outcome:
    loc, options, journal, cancel = run.loc, run.options, run.journal, control.cancel
    st = await run_blocking(cancel, inspect_source, loc)
    run.size = st.st_size
    why = hardlink_skip_reason(st, options)
    if why is None:

        async def admit(budget: Budget) -> None:
            await asyncio.to_thread(space_admission, loc, st.st_size, options, budget)

        run.claimed = await journal.claim(
            loc, size_bytes=st.st_size, mtime_ns=st.st_mtime_ns, rating_key=rating_key,
            admit=admit,
        )  # fmt: skip
        why = None if run.claimed else "the file is already managed"
    if why is not None:
        await journal.finish(run.op_id, "cancelled", step=SKIPPED, error=why)
        return run.outcome("skipped", why)

    dirs = await run_blocking(cancel, missing_dirs, loc)
    await journal.set_created_dirs(loc.mapping.name, loc.rel, dirs)
    await run.enter(MKDIR, size_bytes=st.st_size)
    created = await run_blocking(cancel, make_dirs, loc)
    if created != dirs:
        await journal.set_created_dirs(loc.mapping.name, loc.rel, created)
    control.check()

    run.temp = names.temp_path(loc.cache_path, run.op_id)
    await run.enter(COPYING, temp_path=run.temp)
    copied = await _copy(run, control, created)
    await run.enter(VERIFYING, bytes_done=copied.size)
    fingerprint = await run_bulk(
        cancel, verify_copy, loc.array_path, run.temp, options.verify, size_bytes=run.size
    )
    control.check()

    await run.enter(PUBLISHING, fingerprint=fingerprint)
    await run_blocking(cancel, publish, run.temp, loc.cache_path)
    if options.mode == "union":
        await run.enter(HIDING)
        await run_blocking(cancel, hide, loc.array_path, loc.backup_path)
    else:
        await run.enter(BACKING_UP)
        await run_blocking(cancel, back_up_by_link, loc.array_path, loc.backup_path)
        await run.enter(LINKING)
        symlink_temp = names.temp_path(loc.array_path, run.op_id)
        await run_blocking(cancel, link_over, loc.array_path, loc.cache_path, symlink_temp)
    await journal.complete_cache(
        run.op_id, loc.mapping.name, loc.rel,
        size_bytes=copied.size, mtime_ns=copied.mtime_ns, fingerprint=fingerprint,
    )  # fmt: skip
    log.info("Cached %s (%d bytes)", loc.cache_path, copied.size)
    return run.outcome("done")
