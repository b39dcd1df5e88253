"""The one operation queue: every cache and restore waits here, and starts here.

The engine hands each planned operation over at once, with its priority and whose claim it
serves; nothing else keeps a queue. One fair order decides which waiting operation starts
next (`ordering`: every person's first item before anyone's second, then priority). Copies
and restores have their own concurrency limits (`cache.copy_concurrency`,
`cache.restore_concurrency`, read at each start so a reload applies), copies also one per
array disk at a time (`cache.copies_per_disk`), and bytes are paced to the bandwidth limits
(`bandwidth`). Two operations on the same file never run at once; while Unraid's mover runs
no operation starts. Small copies next to each other in that order start together, as one
batch in one slot (`batching`, `files.batch`), each still with its own events and outcome;
while one runs, nobody else's item deeper in the order starts beside it. While a play is
being worked out (`play_coming`), the last free copy slot is kept for the first item it
will bring: an item deeper than its window's first does not take it meanwhile.

An operation ends one way for everyone: its `operation_complete` event, then the owner's
`on_finish(op, outcome)` hook (done, skipped, failed or cancelled alike), then its `result`
future. `close()` cancels what is queued and asks running copies to stop between chunks;
the protocol leaves their files as they were.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from pathlib import PurePosixPath
from typing import Any, Protocol

from cacherr.config.models import CacheConfig, Settings
from cacherr.db import Database
from cacherr.errors import DatabaseUnwritable
from cacherr.events import EventBus, OperationComplete, OperationStarted
from cacherr.executor.bandwidth import MiB, Pacer, pace, paced_chunk_bytes
from cacherr.executor.batching import BATCH_FILES, SmallFirst, batchable, joiner, level, share
from cacherr.executor.operation import Operation
from cacherr.executor.ordering import FairQueue
from cacherr.executor.progress import ProgressReporter
from cacherr.files.batch import BatchItem, cache_batch
from cacherr.files.disks import disk_in_path, find_disks, union_share_path
from cacherr.files.model import (
    CHUNK_BYTES,
    FileLocation,
    Kind,
    Outcome,
    ProtocolOptions,
    Result,
)
from cacherr.files.protocol import Recovered, cache_file, plan, recover, restore_file

log = logging.getLogger(__name__)

OnFinish = Callable[[Operation, Outcome], Awaitable[None] | None]


class MoverGuardLike(Protocol):
    """`cacherr.files.mover.MoverGuard`: returns once Unraid's mover is not running."""

    async def wait_until_idle(self) -> None: ...


class Executor:
    """Runs operations off the one queue; see the module docstring."""

    def __init__(
        self,
        db: Database,
        bus: EventBus,
        settings: Callable[[], Settings],
        *,
        mover: MoverGuardLike | None = None,
        on_finish: OnFinish | None = None,
        progress_interval_s: float = 0.25,
        chunk_bytes: int = CHUNK_BYTES,
    ) -> None:
        self._db = db
        self._bus = bus
        self._settings = settings
        self._mover = mover
        self._on_finish = on_finish
        self._progress_interval_s = progress_interval_s
        self._chunk_bytes = chunk_bytes
        self._ids = itertools.count(1)
        self._queue = FairQueue()
        self._ops: dict[tuple[Kind, tuple[str, str]], Operation] = {}  # unfinished, by file
        self._active: dict[Kind, set[Operation]] = {"cache": set(), "restore": set()}
        self._slots: Counter[Kind] = Counter()  # running tasks (a batch is one)
        self._disk_copies: Counter[str] = Counter()
        self._locating: list[Operation] = []
        self._locator = False  # a `_locate` loop runs (one at a time)
        self._tasks: set[asyncio.Task[None]] = set()
        self._pacers: dict[str, Pacer] = {}
        # Files whose operation stopped because the journal could not be written: left as
        # the journal says until `recover_stranded` (the database writable again).
        self._stranded: set[tuple[str, str]] = set()
        self._finishing = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._started = False
        self._closing = False
        self._pump_scheduled = False
        self._plays_coming = 0

    async def recover_stranded(self) -> list[Recovered]:
        """Finish or undo the operations a journal write failure stopped half-way.

        Only once the database can be written again, and only for files no operation works
        on now; what the step table does is what start-up recovery would do.
        """
        if not self._stranded or self._db.write_problem is not None:
            return []
        files = self._stranded - self.busy()
        try:
            done = await recover(self._db, only=files)
        except DatabaseUnwritable as exc:
            log.warning("Interrupted operations wait: %s", exc.message)
            return []
        self._stranded -= files
        return done

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Begin starting queued operations (run start-up recovery before this)."""
        self._started = True
        self._pump()

    async def close(self, *, grace_s: float = 10.0) -> None:
        """Cancel queued operations, stop running ones cleanly, and wait for them."""
        self._closing = True
        for op in [*self._queue, *self._locating]:
            self._cancel_unstarted(op)
        running = [op for lane in self._active.values() for op in lane]
        for op in running:
            op.control.cancel.set()
            if op.state == "waiting" and op.task is not None:
                op.task.cancel()  # a batch's task: all of it, none of it has started
        tasks = [op.task for op in running if op.task is not None]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=grace_s)
            for task in late:  # a rename or fsync still in progress: the protocol settles it
                task.cancel()
            if late:
                await asyncio.wait(late)
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=grace_s)

    async def run_until_idle(self) -> None:
        """Return once nothing is queued, running or finishing (tests wait on this)."""
        if not self._started and self._ops:
            raise RuntimeError("the executor was not started")
        await self._idle.wait()

    # --- work --------------------------------------------------------------------------

    def submit(
        self,
        kind: Kind,
        location: FileLocation,
        *,
        rating_key: str | None = None,
        reason: str | None = None,
        priority: float = 0.0,
        holder: str | None = None,
        show: str | None = None,
        after: Sequence[Operation] = (),
        size_bytes: int | None = None,
    ) -> Operation:
        """Queue an operation; the same operation already queued or running is returned.

        `priority`, `holder` (whose claim it serves) and `show` (which show that claim is
        for) place it in the fair order; `after` are operations that must finish before it
        starts (evictions making room); `size_bytes` is the file's size as the planner saw
        it (a small copy may then start in a batch).
        """
        if self._closing:
            raise RuntimeError("the executor is closing")
        key = (kind, (location.mapping.name, location.rel))
        if (same := self._ops.get(key)) is not None:
            return same
        # On one file, operations run in the order they were asked for, whatever their rank.
        other = self._ops.get(("restore" if kind == "cache" else "cache", key[1]))
        waits = (*after, other) if other is not None else tuple(after)
        op = Operation(next(self._ids), kind, location, rating_key, reason, priority, holder,
                       waits, show, size_bytes=size_bytes)  # fmt: skip
        self._ops[key] = op
        self._idle.clear()
        share_path = self._share_path(op)
        if share_path is None:
            op.disk = self._disk_without_looking(op)
            self._queue.push(op)
            self._pump_soon()
        else:
            self._locating.append(op)
            if not self._locator:
                self._locator = True
                self._spawn(self._locate())
        return op

    def cancel(self, op_id: int) -> bool:
        """Cancel a queued or running operation; False if there is no such operation."""
        op = next((o for o in self._ops.values() if o.id == op_id), None)
        if op is None:
            return False
        if op.state == "queued":
            self._cancel_unstarted(op)
        else:
            op.control.cancel.set()
            if op.state == "waiting" and op.task is not None and not op.batched:
                op.task.cancel()  # a batched copy sees its flag instead: the others go on
        return True

    @contextlib.contextmanager
    def play_coming(self) -> Iterator[None]:
        """Within this, a play is being worked out: its window's first item (the next
        episode) is on its way, so no copy deeper in its own window takes the last free copy
        slot meanwhile. Those copies start when it ends (or a slot is free), never later."""
        self._plays_coming += 1
        try:
            yield
        finally:
            self._plays_coming -= 1
            if not self._plays_coming:
                self._pump_soon()

    def operations(self) -> list[Operation]:
        """Running operations, then queued ones in the order they will start."""
        active = sorted((op for lane in self._active.values() for op in lane), key=lambda o: o.id)
        return [*active, *self._queue, *self._locating]

    def busy(self) -> set[tuple[str, str]]:
        """(mapping, rel) of every file an operation is queued or running for."""
        return {op.key for op in self._ops.values()}

    def limits(self) -> dict[str, Any]:
        """The concurrency and bandwidth limits in force (for the page)."""
        cache = self._settings().cache
        return {
            "copy_concurrency": cache.copy_concurrency,
            "restore_concurrency": cache.restore_concurrency,
            "copies_per_disk": cache.copies_per_disk or None,
            "copy_limit_mib_s": cache.copy_limit_mib_s or None,
            "disk_limit_mib_s": cache.disk_limit_mib_s or None,
        }

    async def dry_run(self, requests: Iterable[tuple[Kind, FileLocation]]) -> list[dict[str, Any]]:
        """What each (kind, location) would do now, in order; nothing is touched."""
        options = self._options()
        return [await plan(self._db, kind, loc, options) for kind, loc in requests]

    # --- starting ------------------------------------------------------------------------

    def _options(self) -> ProtocolOptions:
        return ProtocolOptions.from_settings(self._settings(), chunk_bytes=self._chunk_bytes)

    def _per_disk(self, op: Operation) -> bool:
        cache = self._settings().cache
        return op.kind == "cache" and bool(cache.copies_per_disk or cache.disk_limit_mib_s)

    def _share_path(self, op: Operation) -> PurePosixPath | None:
        """Where a copy's disk must be looked up on disk (None: known without looking)."""
        if not self._per_disk(op):
            return None
        return union_share_path(str(op.location.array_path), self._settings().cache.disks_root)

    def _disk_without_looking(self, op: Operation) -> str | None:
        if not self._per_disk(op):
            return None
        return disk_in_path(str(op.location.array_path), self._settings().cache.disks_root)

    async def _locate(self) -> None:
        """Find the array disk of copies from a union path, in one hop off the loop per batch."""
        try:
            while self._locating and not self._closing:
                batch = [*self._locating]
                root = self._settings().cache.disks_root
                paths = [self._share_path(op) for op in batch]
                disks = await asyncio.to_thread(find_disks, paths, root)
                self._locating = [op for op in self._locating if op not in batch]
                for op, disk in zip(batch, disks, strict=True):
                    if op.state == "queued":  # not cancelled meanwhile
                        op.disk = disk
                        self._queue.push(op)
                self._pump()
        finally:
            self._locator = False

    def _room(self, kind: Kind) -> bool:
        cache = self._settings().cache
        limit = cache.copy_concurrency if kind == "cache" else cache.restore_concurrency
        return self._slots[kind] < limit

    def _pump_soon(self) -> None:
        """Start what can start once the caller's burst is over: a plan hands over all its
        actions at once (the small copies among them then start together), a batch's copies
        finish one after the other."""
        if not self._pump_scheduled:
            self._pump_scheduled = True
            asyncio.get_running_loop().call_soon(self._pump)

    def _pump(self) -> None:
        self._pump_scheduled = False
        if not self._started or self._closing:
            return
        per_disk = self._settings().cache.copies_per_disk
        running = {op.key for lane in self._active.values() for op in lane}
        small = SmallFirst(self._active["cache"])
        # While a play is worked out, the copy slots that items deeper than their window's
        # first may take: all but the last (none kept when there is one slot only).
        deep = self._settings().cache.copy_concurrency - 1 if self._plays_coming else 0

        def ready(op: Operation) -> bool:
            if op.key in running or op.blocked:
                return False  # the other operation on this file (or an eviction) goes first
            if small.waits(op):
                return False  # someone's first item, small, is being copied: a moment
            if deep and op.kind == "cache" and op.window_depth and self._slots["cache"] >= deep:
                return False  # the last free slot waits for the first item of a play coming
            return not (per_disk and op.disk and self._disk_copies[op.disk] >= per_disk)

        for op in self._queue.take(ready, self._room):
            group = [op]
            if batchable(op):  # the small copies right after it in the order come along
                slots = self._side_by_side(op)
                group += self._queue.take_run(joiner(op, running, parts=slots),
                                              BATCH_FILES * slots - 1)  # fmt: skip
                same = sum(
                    1 for o in self._active["cache"] if batchable(o) and level(o) == level(op)
                )
                taken = share(group, slots, same)
                self._queue.put_back(group[taken:])
                group = group[:taken]
            self._slots[op.kind] += 1
            if op.disk is not None:
                self._disk_copies[op.disk] += 1
            task = asyncio.create_task(self._run(group), name=f"cacherr-op-{op.id}")
            for member in group:
                running.add(member.key)
                small.started(member)
                self._active[member.kind].add(member)
                member.state = "waiting"
                member.task = task
                member.batched = len(group) > 1
        self._update_idle()

    def _side_by_side(self, op: Operation) -> int:
        """How many batches of copies like `op` may run at once (its disk's limit included)."""
        cache = self._settings().cache
        if op.disk is not None and cache.copies_per_disk:
            return min(cache.copy_concurrency, cache.copies_per_disk)
        return cache.copy_concurrency

    def _update_idle(self) -> None:
        if self._ops or self._tasks or self._finishing:
            self._idle.clear()
        else:
            self._idle.set()

    def _pacers_for(self, op: Operation, cache: CacheConfig) -> list[Pacer]:
        pacers = []
        if cache.copy_limit_mib_s:
            pacers.append(self._pacer("", cache.copy_limit_mib_s))
        if cache.disk_limit_mib_s and op.disk is not None:
            pacers.append(self._pacer(op.disk, cache.disk_limit_mib_s))
        elif cache.disk_limit_mib_s:  # a copy whose disk is unknown is paced on its own
            pacers.append(Pacer(cache.disk_limit_mib_s * MiB))
        return pacers

    def _pacer(self, name: str, rate_mib_s: float) -> Pacer:
        pacer = self._pacers.get(name)
        if pacer is None or pacer.rate_bps != rate_mib_s * MiB:
            pacer = self._pacers[name] = Pacer(rate_mib_s * MiB)
        return pacer

    # --- running and finishing -------------------------------------------------------------

    async def _run(self, group: list[Operation]) -> None:
        """Run one operation, or a batch of small copies (`group`), in one slot."""
        op, started = group[0], time.monotonic()
        outcomes: list[Outcome] | None = None
        try:
            if self._mover is not None:
                await self._mover.wait_until_idle()
            outcomes = await self._execute(group)
        except asyncio.CancelledError:
            error = "cancelled"
        except DatabaseUnwritable as exc:
            # The journal cannot be written (a full config folder): the files stay where it
            # says until `recover_stranded` (the next sweep) or the next start settles them.
            log.warning("Operation %d on %s stopped: %s", op.id, op.location.plex_path,
                        exc.message)  # fmt: skip
            self._stranded.update(member.key for member in group)
            error = exc.message
        except Exception as exc:  # a bug, not a file problem: report it, keep the queue going
            log.exception("Operation %d on %s crashed", op.id, op.location.plex_path)
            error = repr(exc)
        if outcomes is None:
            result: Result = "cancelled" if error == "cancelled" else "failed"
            outcomes = [Outcome(m.kind, m.location.plex_path, result, error=error) for m in group]
        self._slots[op.kind] -= 1
        if op.disk is not None:
            self._disk_copies[op.disk] -= 1
        for member in group:
            self._active[member.kind].discard(member)
        duration_s = time.monotonic() - started
        for member, outcome in zip(group, outcomes, strict=True):
            await self._finish(member, outcome, duration_s)

    async def _execute(self, group: list[Operation]) -> list[Outcome]:
        settings = self._settings()
        chunk_bytes = min(self._prepare(op, settings) for op in group)
        options = ProtocolOptions.from_settings(settings, chunk_bytes=chunk_bytes)
        if len(group) > 1:
            items = [BatchItem(o.location, o.control, o.rating_key, o.reason) for o in group]
            return await cache_batch(self._db, items, options)
        op = group[0]
        if op.kind == "cache":
            outcome = await cache_file(
                self._db, op.location, options, control=op.control,
                rating_key=op.rating_key, reason=op.reason,
            )  # fmt: skip
        else:
            outcome = await restore_file(
                self._db, op.location, options, control=op.control, reason=op.reason
            )
        return [outcome]

    def _prepare(self, op: Operation, settings: Settings) -> int:
        """`op` is running: its event, progress and pacing; returns its chunk size."""
        op.state = "running"
        path = op.location.plex_path
        self._bus.publish(OperationStarted(id=op.id, kind=op.kind, path=path))
        op.control.on_progress = ProgressReporter(
            asyncio.get_running_loop(), self._bus, op_id=op.id, kind=op.kind, path=path,
            interval_s=self._progress_interval_s,
        )  # fmt: skip
        pacers = self._pacers_for(op, settings.cache)
        if not pacers:
            return self._chunk_bytes
        op.control.pace = lambda nbytes: pace(pacers, nbytes, op.control.cancel)
        return paced_chunk_bytes(min(p.rate_bps for p in pacers), self._chunk_bytes)

    def _cancel_unstarted(self, op: Operation) -> None:
        if op.state != "queued":
            return
        op.state = "finished"  # the queue skips it when its turn comes
        self._forget(op)  # the same file may be asked for again at once
        if op in self._locating:
            self._locating.remove(op)
        else:
            self._queue.drop(op)
        outcome = Outcome(op.kind, op.location.plex_path, "cancelled", error="cancelled")
        self._spawn(self._finish(op, outcome, 0.0))

    async def _finish(self, op: Operation, outcome: Outcome, duration_s: float) -> None:
        """The one way an operation ends: event, the owner's hook, its future, the next.

        Until the owner's hook has run, the operation is still the one `submit` returns for
        its file and `busy` names: the owner learns of the end in the hook, and a plan made
        before that (the file still managed, say) must not ask for it a second time."""
        op.state = "finished"
        self._queue.release(op)
        self._bus.publish(
            OperationComplete(
                id=op.id,
                kind=op.kind,
                path=op.location.plex_path,
                result=outcome.result,
                error=outcome.error,
                duration_s=round(duration_s, 3),
                size_bytes=outcome.size_bytes,
                warning=(outcome.detail or {}).get("warning"),
            )
        )
        self._finishing += 1
        # The next operation need not wait for this one's bookkeeping; a batch's copies
        # finishing one after the other start the next ones in one look at the queue.
        self._pump_soon()
        try:
            if self._on_finish is not None:
                result = self._on_finish(op, outcome)
                if inspect.isawaitable(result):
                    await result
        except Exception:
            log.exception("After %s of %s", outcome.kind, outcome.path)
        finally:
            self._finishing -= 1
            self._forget(op)
        if not op.result.done():
            op.result.set_result(outcome)
        self._update_idle()

    def _forget(self, op: Operation) -> None:
        if self._ops.get((op.kind, op.key)) is op:
            del self._ops[(op.kind, op.key)]

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coro)
        self._tasks.add(task)
        self._idle.clear()

        def done(t: asyncio.Task[None]) -> None:
            self._tasks.discard(t)
            self._update_idle()

        task.add_done_callback(done)
