"""Caching several small files together: the steps of `caching`, each taken for all of them.

For a subtitle of a few KiB the cost of a copy is its journal commits and folder fsyncs, not
its bytes. A batch takes each step of the single-file sequence for all its files at once, so
a step is one commit and one fsync per folder touched, however many files:

1. look at every source (stat, hard links, missing cache folders), touching nothing;
2. one commit: each file's operation row, at step `copying` with its temp name, and its
   `caching` row with the folders it needs (space admitted file by file, in order); files
   skipped or refused are closed in the same commit;
3. make the folders, copy each file to its temp name (fsynced) and verify it; fsync each
   folder once;
4. one commit: step `publishing` (with each fingerprint, and the folders each copy really
   made); rename each temp to its final name; fsync each cache folder;
5. one commit: `hiding` (union), or `backing_up` then `linking` (symlink), each followed by
   its renames or links and one fsync per array folder;
6. one commit: every row `cached` and every operation `done`.

Every step is journaled before any file takes it, and its actions are durable (their folders
fsynced) before the next step is journaled. So at every moment each file is where the
single-file sequence could have left it, under the same journal step: start-up recovery and
the clean-up of a file that fails are `caching`'s own. A file that fails or is cancelled is
cleaned up alone; the others go on. The executor batches small files only, so no big copy
ever waits inside a batch.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from cacherr.atomic import fsync_dir, fsync_file
from cacherr.db import Database
from cacherr.errors import CacherrError
from cacherr.files import names
from cacherr.files.batch_journal import (
    NewCaching,
    NewOperation,
    insert_caching,
    insert_operations,
    managed_among,
    mark_cached,
    next_operation_id,
    record_created_dirs,
    set_steps,
)
from cacherr.files.caching import CacheRun, admit_in_turn, hardlink_skip_reason
from cacherr.files.copy import CopyCancelled, CopyControl, CopyResult, copy_to_temp
from cacherr.files.journal import Journal
from cacherr.files.model import (
    BACKING_UP,
    COPYING,
    HIDING,
    LINKING,
    PLANNED,
    PUBLISHING,
    SKIPPED,
    FileLocation,
    Outcome,
    ProtocolOptions,
)
from cacherr.files.offload import run_blocking
from cacherr.files.ondisk import (
    back_up_by_link,
    hide,
    inspect_source,
    link_over,
    make_dirs,
    missing_dirs,
    publish,
)
from cacherr.files.paths import is_within
from cacherr.files.verify import verify_copy

log = logging.getLogger(__name__)

Failure = OSError | CacherrError
StepFields = tuple[str | None, int | None]  # fingerprint, bytes done (None: unchanged)

# fsyncs issued at once (a batch's copies, its folders): enough for the file system to
# share one journal commit among them, few enough to stay a small burst of threads.
FSYNC_THREADS = 8
# Copies synced and checked at once, while the next ones are copied: each fsync waits for
# the disk, and reading back and hashing hold no GIL.
CHECK_THREADS = 4


@dataclass(frozen=True)
class BatchItem:
    """One file of a batch, with what its operation carries."""

    loc: FileLocation
    control: CopyControl = field(default_factory=CopyControl)
    rating_key: str | None = None
    reason: str | None = None


@dataclass(eq=False)
class _Entry:
    """One file's progress through the batch."""

    item: BatchItem
    run: CacheRun
    st: os.stat_result | None = None
    dirs: list[str] = field(default_factory=list)
    skip: str | None = None  # why it is left alone (a skip, not a failure)
    failure: Failure | None = None  # what stopped it, until its clean-up ran
    outcome: Outcome | None = None
    created: list[str] | None = None
    copied: CopyResult | None = None
    fingerprint: str = ""

    @property
    def ready(self) -> bool:
        """Looked at, neither skipped nor refused: it is to be copied."""
        return self.skip is None and self.failure is None

    @property
    def live(self) -> bool:
        """Journaled, not failed, not finished: it takes the next step."""
        return self.run.op_id != 0 and self.failure is None and self.outcome is None


async def cache_batch(
    db: Database, items: list[BatchItem], options: ProtocolOptions
) -> list[Outcome]:
    """Cache `items` as the module docstring describes; one `Outcome` per item, in order.

    Cancelling the awaiting task stops between files, cleans up every file not yet done and
    re-raises.
    """
    entries = [_Entry(item, CacheRun(db, item.loc, options)) for item in items]
    stop = threading.Event()  # set if the task is cancelled while a thread works
    try:
        await run_blocking(stop, _look_all, entries, options)
        await _open(db, entries, options)
        await run_blocking(stop, _copy_all, entries, options, stop)
        await _stage(db, PUBLISHING, entries, stop, _publish, _cache_folder, _copied_fields)
        if options.mode == "union":
            await _stage(db, HIDING, entries, stop, _hide, _array_folder)
        else:
            await _stage(db, BACKING_UP, entries, stop, _back_up, _array_folder)
            await _stage(db, LINKING, entries, stop, _link, _array_folder)
        await _complete(db, entries)
    except asyncio.CancelledError:
        for entry in entries:
            if entry.run.op_id != 0 and entry.outcome is None:
                await asyncio.shield(entry.run.clean_up("cancelled", "cancelled"))
        raise
    outcomes = [e.outcome for e in entries]
    assert all(o is not None for o in outcomes)
    return outcomes  # type: ignore[return-value]


# --- 1 and 2: look, then open every operation in one commit ------------------------------


def _look_all(entries: list[_Entry], options: ProtocolOptions) -> None:
    """Blocking: each source's stat and missing folders, or why it is not copied."""
    for entry in entries:
        loc = entry.item.loc
        try:
            entry.item.control.check()  # cancelled while it waited to start
            entry.st = inspect_source(loc)
            entry.skip = hardlink_skip_reason(entry.st, options)
            entry.dirs = missing_dirs(loc)
        except (OSError, CacherrError) as exc:
            entry.failure = exc


async def _open(db: Database, entries: list[_Entry], options: ProtocolOptions) -> None:
    """One commit: every operation journaled; those to copy at `copying` with their row."""
    async with db.transaction() as tx:
        wanted = [e for e in entries if e.failure is None and e.skip is None]
        for mapping in {e.item.loc.mapping.name for e in wanted}:
            mine = [e for e in wanted if e.item.loc.mapping.name == mapping]
            managed = await managed_among(tx, mapping, [e.item.loc.rel for e in mine])
            for entry in mine:
                if entry.item.loc.rel in managed:
                    entry.skip = "the file is already managed"
        wanted = [e for e in wanted if e.skip is None]
        budget = await Journal(tx).budget()
        sizes = [(e.item.loc, _size(e)) for e in wanted]
        verdicts = await asyncio.to_thread(admit_in_turn, sizes, options, budget)
        for entry, refused in zip(wanted, verdicts, strict=True):
            entry.failure = refused
        first = await next_operation_id(tx)
        rows = [_new_operation(first + n, e) for n, e in enumerate(entries)]
        await insert_operations(tx, rows)
        await insert_caching(tx, [_new_caching(e) for e in entries if e.ready])
    for entry, row in zip(entries, rows, strict=True):
        run = entry.run
        run.op_id = row.id
        if entry.skip is not None:
            entry.outcome = run.outcome("skipped", entry.skip)
        elif entry.failure is not None:
            entry.outcome = _closed(run, entry.failure)
            entry.failure = None
        else:
            run.step, run.claimed, run.size, run.temp = COPYING, True, _size(entry), row.temp_path


def _new_operation(op_id: int, entry: _Entry) -> NewOperation:
    loc, reason = entry.item.loc, entry.item.reason
    if entry.skip is not None:
        return NewOperation(op_id, loc, reason, SKIPPED, "cancelled", error=entry.skip)
    if entry.failure is not None:
        state = "cancelled" if isinstance(entry.failure, CopyCancelled) else "failed"
        return NewOperation(op_id, loc, reason, PLANNED, state, error=_error(entry.failure))
    temp = names.temp_path(loc.cache_path, op_id)
    return NewOperation(op_id, loc, reason, COPYING, temp_path=temp, size_bytes=_size(entry))


def _new_caching(entry: _Entry) -> NewCaching:
    assert entry.st is not None
    return NewCaching(entry.item.loc, entry.st.st_size, entry.st.st_mtime_ns,
                      entry.item.rating_key, entry.dirs)  # fmt: skip


def _size(entry: _Entry) -> int:
    assert entry.st is not None
    return entry.st.st_size


def _error(exc: Failure) -> str:
    return str(exc) if isinstance(exc, CacherrError) else f"{type(exc).__name__}: {exc}"


def _closed(run: CacheRun, exc: Failure) -> Outcome:
    """The outcome of a file refused before anything was touched (its row closed already)."""
    if isinstance(exc, CopyCancelled):
        return run.outcome("cancelled", "cancelled")
    log.warning("Caching %s failed: %s", run.loc.array_path, _error(exc))
    return run.outcome("failed", _error(exc))


# --- 3: folders, copies, verification ------------------------------------------------------


def _copy_all(entries: list[_Entry], options: ProtocolOptions, stop: threading.Event) -> None:
    """Blocking: make each file's folders and copy it to its temp name, and while the next
    one is copied, fsync the copy and verify it (reading it back from the disk) on other
    threads; then make the folders the batch made durable, in one flush of the disk for all.
    A batch's first checks so overlap its later copies, where making every folder, then
    copying every file, then syncing them all, then verifying them all left the disk and
    the CPU each idle for most of the batch.

    Nothing here needs the folders durable yet: a folder or temp name lost to a power cut
    leaves nothing to undo (recovery from `copying` finds no temp, and removes empty folders
    the journal names), and the renames of step 4 are fsynced, after these folders, before
    anything relies on them. A folder that cannot be made durable fails every file in it."""

    def check(entry: _Entry) -> None:
        loc, control, temp = entry.item.loc, entry.item.control, entry.run.temp
        assert temp is not None
        try:
            fsync_file(temp)  # several at once share the file system's journal commit
            entry.fingerprint = verify_copy(loc.array_path, temp, options.verify)
            control.check()
        except (OSError, CacherrError) as exc:
            entry.failure = exc

    checks = []
    # Reading back and hashing hold no GIL; an fsync waits for the disk: a few at once.
    with ThreadPoolExecutor(CHECK_THREADS, "cacherr-verify") as pool:
        for entry in (e for e in entries if e.live):
            loc, control, temp = entry.item.loc, entry.item.control, entry.run.temp
            assert temp is not None
            if stop.is_set():
                control.cancel.set()
            try:
                control.check()
                # Looked for now: one made by an earlier file of the batch is there, and one
                # in place at the look may be gone since (a sibling's restore removed it).
                entry.created = make_dirs(loc, sync=False)
                entry.copied = copy_to_temp(
                    loc.array_path, temp, control, chunk_bytes=options.chunk_bytes, sync=False
                )
            except (OSError, CacherrError) as exc:
                entry.failure = exc
            else:
                checks.append(pool.submit(check, entry))
    for done in checks:
        done.result()  # what no entry could take (a bug) is raised here, not lost
    # Each file counts the folders it lies in, whichever file made them.
    _share_folders(entries)
    _fsync_all(entries, lambda e: [Path(f).parent for f in e.created or ()], fsync_dir)


def _share_folders(entries: list[_Entry]) -> None:
    """Each file keeps, of the folders the batch made, those it lies in, whichever of its
    copies made them (one may have been made again: gone since the look). The last of those
    files to go (rolled back, restored) removes a folder once empty, and one made by
    something else meanwhile is never Cacherr's to remove."""
    made = {folder for e in entries if e.created for folder in e.created}
    for entry in entries:
        if entry.created is not None:
            parent = str(entry.item.loc.cache_path.parent)
            entry.created = sorted((f for f in made if is_within(parent, f)), key=len)


def _copied_fields(entry: _Entry) -> StepFields:
    assert entry.copied is not None
    return (entry.fingerprint, entry.copied.size)


# --- 4 and 5: each step journaled for all, then taken by each ---------------------------------


async def _journal(
    db: Database, step: str, entries: list[_Entry], fields: Callable[[_Entry], StepFields]
) -> None:
    """One commit: `step` for every live file (and the folders each copy really made);
    then the files that failed so far are cleaned up, each from its own step."""
    live = [e for e in entries if e.live]
    made = [e for e in entries if e.created is not None and e.created != e.dirs]
    if live or made:
        async with db.transaction() as tx:
            if made:
                await record_created_dirs(tx, [(e.item.loc, e.created or []) for e in made])
            if live:
                await set_steps(tx, step, [(e.run.op_id, *fields(e)) for e in live])
    for entry in made:
        entry.dirs = entry.created or []
    for entry in live:
        entry.run.step = step
    await _settle_failures(entries)


def _act_all(
    entries: list[_Entry],
    stop: threading.Event,
    action: Callable[[_Entry], None],
    folder: Callable[[_Entry], Path],
) -> None:
    for entry in (e for e in entries if e.live):
        if stop.is_set():
            return  # the task was cancelled: its clean-up undoes each file from its step
        try:
            action(entry)
        except (OSError, CacherrError) as exc:
            entry.failure = exc
    _fsync_all(entries, lambda e: [folder(e)], fsync_dir)


async def _stage(
    db: Database,
    step: str,
    entries: list[_Entry],
    stop: threading.Event,
    action: Callable[[_Entry], None],
    folder: Callable[[_Entry], Path],
    fields: Callable[[_Entry], StepFields] = lambda e: (None, None),
) -> None:
    """Journal `step` for every live file in one commit, then take it for each on one
    thread, with one fsync per `folder`; the files it failed for are cleaned up."""
    await _journal(db, step, entries, fields)
    await run_blocking(stop, _act_all, entries, stop, action, folder)
    await _settle_failures(entries)


def _cache_folder(entry: _Entry) -> Path:
    return entry.item.loc.cache_path.parent


def _array_folder(entry: _Entry) -> Path:
    return entry.item.loc.array_path.parent


def _publish(entry: _Entry) -> None:
    assert entry.run.temp is not None
    publish(entry.run.temp, entry.item.loc.cache_path, sync=False)


def _hide(entry: _Entry) -> None:
    hide(entry.item.loc.array_path, entry.item.loc.backup_path, sync=False)


def _back_up(entry: _Entry) -> None:
    back_up_by_link(entry.item.loc.array_path, entry.item.loc.backup_path, sync=False)


def _link(entry: _Entry) -> None:
    loc = entry.item.loc
    symlink_temp = names.temp_path(loc.array_path, entry.run.op_id)
    link_over(loc.array_path, loc.cache_path, symlink_temp, sync=False)


def _fsync_all(
    entries: Iterable[_Entry],
    paths: Callable[[_Entry], Iterable[Path]],
    fsync: Callable[[Path], None],
) -> None:
    """Blocking: `fsync` the `paths` of each live file, each path once, on several threads
    at once: the file system then makes them durable in one journal commit and one flush of
    the disk, where one after the other each waits for its own. A path that cannot be
    synced fails its files (what they did is not durable)."""
    by_path: dict[Path, list[_Entry]] = {}
    for entry in entries:
        if entry.live:
            for where in paths(entry):
                by_path.setdefault(where, []).append(entry)
    if not by_path:
        return

    def sync(where: Path) -> OSError | None:
        try:
            fsync(where)
        except OSError as exc:
            return exc
        return None

    with ThreadPoolExecutor(min(len(by_path), FSYNC_THREADS), "cacherr-fsync") as pool:
        for members, problem in zip(by_path.values(), pool.map(sync, by_path), strict=True):
            for entry in members:
                entry.failure = entry.failure or problem


async def _settle_failures(entries: list[_Entry]) -> None:
    for entry in entries:
        if entry.failure is not None and entry.outcome is None:
            entry.outcome = await entry.run.settle_error(entry.failure)


# --- 6: done ---------------------------------------------------------------------------


async def _complete(db: Database, entries: list[_Entry]) -> None:
    """One commit: every file that got through is `cached`, its operation `done`."""
    live = [e for e in entries if e.live]
    if not live:
        return
    async with db.transaction() as tx:
        await mark_cached(tx, [_cached(e) for e in live])
    for entry in live:
        log.info("Cached %s (%d bytes)", entry.item.loc.cache_path, entry.run.size)
        entry.outcome = entry.run.outcome("done")


def _cached(entry: _Entry) -> tuple[int, FileLocation, int, int, str]:
    assert entry.copied is not None
    copied = entry.copied
    return (entry.run.op_id, entry.item.loc, copied.size, copied.mtime_ns, entry.fingerprint)
