"""The operation queue: cache and restore operations run with separate concurrency limits.

Operations wait in two lanes (cache, restore), each started while fewer than its limit
(`cache.copy_concurrency`, `cache.restore_concurrency`, read at each start so a reload
applies) are running. Two operations on the same file never run at once. While Unraid's
mover runs no operation starts. Every operation emits `operation_started`, throttled
`operation_progress` and `operation_complete` events. `close()` cancels what is queued and
asks running copies to stop between chunks; the protocol leaves their files as they were.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from cacherr.config.models import Settings
from cacherr.db import Database
from cacherr.errors import DatabaseUnwritable
from cacherr.events import OPERATION_COMPLETE, OPERATION_STARTED, EventBus
from cacherr.executor.progress import ProgressReporter
from cacherr.files.copy import CopyControl
from cacherr.files.model import CHUNK_BYTES, FileLocation, Kind, Outcome, ProtocolOptions
from cacherr.files.protocol import Recovered, cache_file, plan, recover, restore_file

log = logging.getLogger(__name__)

OnChange = Callable[[Outcome], Awaitable[None] | None]


class MoverGuardLike(Protocol):
    """`cacherr.files.mover.MoverGuard`: returns once Unraid's mover is not running."""

    async def wait_until_idle(self) -> None: ...


@dataclass(eq=False)
class Operation:
    """One queued or running operation; `result` resolves to its `Outcome`."""

    id: int
    kind: Kind
    location: FileLocation
    rating_key: str | None = None
    reason: str | None = None
    state: Literal["queued", "waiting", "running", "finished"] = "queued"
    control: CopyControl = field(default_factory=CopyControl)
    result: asyncio.Future[Outcome] = field(default_factory=asyncio.Future)
    task: asyncio.Task[None] | None = None

    @property
    def key(self) -> tuple[str, str]:
        """The file it works on: (mapping name, relative path)."""
        return (self.location.mapping.name, self.location.rel)

    def as_dict(self) -> dict[str, Any]:
        """For the page and the API."""
        return {
            "id": self.id,
            "kind": self.kind,
            "path": self.location.plex_path,
            "state": self.state,
            "reason": self.reason,
        }


class Executor:
    """Runs operations off a queue; see the module docstring."""

    def __init__(
        self,
        db: Database,
        bus: EventBus,
        settings: Callable[[], Settings],
        *,
        mover: MoverGuardLike | None = None,
        on_change: OnChange | None = None,
        progress_interval_s: float = 0.25,
        chunk_bytes: int = CHUNK_BYTES,
    ) -> None:
        self._db = db
        self._bus = bus
        self._settings = settings
        self._mover = mover
        self._on_change = on_change
        self._progress_interval_s = progress_interval_s
        self._chunk_bytes = chunk_bytes
        self._ids = itertools.count(1)
        self._queued: dict[Kind, deque[Operation]] = {"cache": deque(), "restore": deque()}
        self._active: dict[Kind, set[Operation]] = {"cache": set(), "restore": set()}
        # Files whose operation stopped because the journal could not be written: left as
        # the journal says until `recover_stranded` (the database writable again).
        self._stranded: set[tuple[str, str]] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._started = False
        self._closing = False

    async def recover_stranded(self) -> list[Recovered]:
        """Finish or undo the operations a journal write failure stopped half-way.

        Only once the database can be written again, and only for files no operation works
        on now; what the step table does is what start-up recovery would do.
        """
        if not self._stranded or self._db.write_problem is not None:
            return []
        busy = {op.key for lane in self._active.values() for op in lane}
        files = self._stranded - busy
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
        for lane in self._queued.values():
            while lane:
                self._finish_unstarted(lane.popleft())
        running = [op for lane in self._active.values() for op in lane]
        for op in running:
            op.control.cancel.set()
            if op.state == "waiting" and op.task is not None:
                op.task.cancel()
        tasks = [op.task for op in running if op.task is not None]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=grace_s)
            for task in late:  # a rename or fsync still in progress: the protocol settles it
                task.cancel()
            if late:
                await asyncio.wait(late)

    async def run_until_idle(self) -> None:
        """Return once nothing is queued or running (tests wait on this, never sleep)."""
        if not self._started and any(self._queued.values()):
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
    ) -> Operation:
        """Queue an operation; the same operation already queued or running is returned."""
        if self._closing:
            raise RuntimeError("the executor is closing")
        key = (location.mapping.name, location.rel)
        for op in self.operations():
            if op.key == key and op.kind == kind:
                return op
        op = Operation(next(self._ids), kind, location, rating_key, reason)
        self._queued[kind].append(op)
        self._idle.clear()
        self._pump()
        return op

    def cancel(self, op_id: int) -> bool:
        """Cancel a queued or running operation; False if there is no such operation."""
        for lane in self._queued.values():
            for op in lane:
                if op.id == op_id:
                    lane.remove(op)
                    self._finish_unstarted(op)
                    self._update_idle()
                    return True
        for op in itertools.chain(*self._active.values()):
            if op.id == op_id:
                op.control.cancel.set()
                if op.state == "waiting" and op.task is not None:
                    op.task.cancel()
                return True
        return False

    def operations(self) -> list[Operation]:
        """Running then queued operations."""
        active = [op for lane in self._active.values() for op in lane]
        return sorted(active, key=lambda o: o.id) + [op for q in self._queued.values() for op in q]

    def busy(self) -> set[tuple[str, str]]:
        """(mapping, rel) of every file an operation is queued or running for."""
        return {op.key for op in self.operations()}

    async def dry_run(self, requests: Iterable[tuple[Kind, FileLocation]]) -> list[dict[str, Any]]:
        """What each (kind, location) would do now, in order; nothing is touched."""
        options = self._options()
        return [await plan(self._db, kind, loc, options) for kind, loc in requests]

    # --- internals -----------------------------------------------------------------------

    def _options(self) -> ProtocolOptions:
        return ProtocolOptions.from_settings(self._settings(), chunk_bytes=self._chunk_bytes)

    def _limit(self, kind: Kind) -> int:
        cache = self._settings().cache
        return cache.copy_concurrency if kind == "cache" else cache.restore_concurrency

    def _pump(self) -> None:
        if not self._started or self._closing:
            return
        busy = {op.key for lane in self._active.values() for op in lane}
        for kind, lane in self._queued.items():
            for op in list(lane):
                if len(self._active[kind]) >= self._limit(kind):
                    break
                if op.key in busy:
                    continue  # the other operation on this file goes first
                lane.remove(op)
                busy.add(op.key)
                self._active[kind].add(op)
                op.state = "waiting"
                op.task = asyncio.create_task(self._run(op), name=f"cacherr-op-{op.id}")
        self._update_idle()

    def _update_idle(self) -> None:
        if any(self._queued.values()) or any(self._active.values()):
            self._idle.clear()
        else:
            self._idle.set()

    async def _run(self, op: Operation) -> None:
        started = time.monotonic()
        try:
            if self._mover is not None:
                await self._mover.wait_until_idle()
            outcome = await self._execute(op)
        except asyncio.CancelledError:
            outcome = Outcome(op.kind, op.location.plex_path, "cancelled", error="cancelled")
        except DatabaseUnwritable as exc:
            # The journal cannot be written (a full config folder): the files stay where it
            # says until `recover_stranded` (the next sweep) or the next start settles them.
            log.warning("Operation %d on %s stopped: %s", op.id, op.location.plex_path,
                        exc.message)  # fmt: skip
            self._stranded.add(op.key)
            outcome = Outcome(op.kind, op.location.plex_path, "failed", error=exc.message)
        except Exception as exc:  # a bug, not a file problem: report it, keep the queue going
            log.exception("Operation %d on %s crashed", op.id, op.location.plex_path)
            outcome = Outcome(op.kind, op.location.plex_path, "failed", error=repr(exc))
        self._publish_complete(op, outcome, time.monotonic() - started)
        self._active[op.kind].discard(op)
        op.state = "finished"
        if not op.result.done():
            op.result.set_result(outcome)
        if outcome.result == "done" and self._on_change is not None:
            await self._call_on_change(outcome)
        self._pump()
        self._update_idle()

    async def _execute(self, op: Operation) -> Outcome:
        op.state = "running"
        path = op.location.plex_path
        self._bus.publish(OPERATION_STARTED, id=op.id, kind=op.kind, path=path)
        op.control.on_progress = ProgressReporter(
            asyncio.get_running_loop(), self._bus, op_id=op.id, kind=op.kind, path=path,
            interval_s=self._progress_interval_s,
        )  # fmt: skip
        options = self._options()
        if op.kind == "cache":
            return await cache_file(
                self._db, op.location, options, control=op.control,
                rating_key=op.rating_key, reason=op.reason,
            )  # fmt: skip
        return await restore_file(
            self._db, op.location, options, control=op.control, reason=op.reason
        )

    async def _call_on_change(self, outcome: Outcome) -> None:
        assert self._on_change is not None
        try:
            result = self._on_change(outcome)
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("The on_change hook failed after %s of %s", outcome.kind, outcome.path)

    def _finish_unstarted(self, op: Operation) -> None:
        outcome = Outcome(op.kind, op.location.plex_path, "cancelled", error="cancelled")
        op.state = "finished"
        self._publish_complete(op, outcome, 0.0)
        if not op.result.done():
            op.result.set_result(outcome)

    def _publish_complete(self, op: Operation, outcome: Outcome, duration_s: float) -> None:
        self._bus.publish(
            OPERATION_COMPLETE,
            id=op.id,
            kind=op.kind,
            path=op.location.plex_path,
            result=outcome.result,
            error=outcome.error,
            duration_s=round(duration_s, 3),
            size_bytes=outcome.size_bytes,
            warning=(outcome.detail or {}).get("warning"),
        )
