"""The operation queue: limits, events, cancellation, the mover, dry runs, closing."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from conftest import assert_consistent, locate, media_bytes, put_media, temps, tree

from cacherr.config.models import Mapping, Settings
from cacherr.db import Database
from cacherr.events import (
    OPERATION_COMPLETE,
    OPERATION_PROGRESS,
    OPERATION_STARTED,
    Event,
    EventBus,
)
from cacherr.executor import Executor
from cacherr.executor.progress import ProgressReporter
from cacherr.files.model import Outcome
from cacherr.notify.digest import compose

MiB = 2**20


def settings(**cache: Any) -> Settings:
    return Settings(cache={"min_free": "0B", "limit": "100%", **cache})


class Recorder:
    """Every event, in order, as the bus delivers them."""

    def __init__(self, bus: EventBus) -> None:
        self.events: list[Event] = []
        bus.listen(self.events.append)

    def of(self, type_: str) -> list[dict[str, Any]]:
        return [e.data for e in self.events if e.type == type_]

    def most_at_once(self, kind: str) -> int:
        running, most = 0, 0
        for event in self.events:
            if event.data.get("kind") != kind:
                continue
            if event.type == OPERATION_STARTED:
                running += 1
                most = max(most, running)
            elif event.type == OPERATION_COMPLETE:
                running -= 1
        return most


class Gate:
    """A stand-in for Unraid's mover: closed while it 'runs'."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.waiting = asyncio.Event()

    async def wait_until_idle(self) -> None:
        self.waiting.set()
        await self.open.wait()


@pytest.fixture
def bus() -> EventBus:
    return EventBus()


@pytest.fixture
async def make_executor(db: Database, bus: EventBus) -> AsyncIterator[Any]:
    made: list[Executor] = []

    async def make(conf: Settings | None = None, **kw: Any) -> Executor:
        current = conf or settings()
        executor = Executor(db, bus, lambda: current, chunk_bytes=kw.pop("chunk_bytes", MiB), **kw)
        await executor.start()
        made.append(executor)
        return executor

    yield make
    for executor in made:
        await executor.close()


def files(mapping: Mapping, count: int, size: int = 2 * MiB) -> list[Any]:
    locs = []
    for i in range(count):
        loc = locate(mapping, f"Show/Season 01/E{i:02d}.mkv")
        put_media(loc, media_bytes(size, seed=i))
        locs.append(loc)
    return locs


async def test_operations_run_within_each_lanes_limit_and_report_events(
    db: Database, bus: EventBus, mapping: Mapping, make_executor: Any
) -> None:
    recorder = Recorder(bus)
    changes: list[Outcome] = []
    executor = await make_executor(
        settings(copy_concurrency=2, restore_concurrency=1), on_change=changes.append
    )
    locs = files(mapping, 5)

    ops = [executor.submit("cache", loc, reason="next episodes") for loc in locs]
    await executor.run_until_idle()

    assert [op.result.result().result for op in ops] == ["done"] * 5
    assert recorder.most_at_once("cache") == 2
    assert len(changes) == 5
    complete = recorder.of(OPERATION_COMPLETE)[0]
    assert set(complete) >= {"id", "kind", "path", "result", "error", "duration_s"}
    assert complete["result"] == "done" and complete["error"] is None
    started = recorder.of(OPERATION_STARTED)
    assert {s["path"] for s in started} == {loc.plex_path for loc in locs}

    for loc in locs:
        executor.submit("restore", loc)
    await executor.run_until_idle()

    assert recorder.most_at_once("restore") == 1
    assert len(changes) == 10
    for i, loc in enumerate(locs):
        await assert_consistent(db, loc, media_bytes(2 * MiB, seed=i), cached=False)


async def test_the_same_file_is_never_worked_on_twice_at_once(
    db: Database, mapping: Mapping, make_executor: Any
) -> None:
    executor = await make_executor()
    [loc] = files(mapping, 1)

    first = executor.submit("cache", loc)
    assert executor.submit("cache", loc) is first
    restore = executor.submit("restore", loc)
    await executor.run_until_idle()

    assert (first.result.result().result, restore.result.result().result) == ("done", "done")
    await assert_consistent(db, loc, media_bytes(2 * MiB, seed=0), cached=False)


async def test_progress_is_reported_a_few_times_a_second_and_at_the_end(
    bus: EventBus, mapping: Mapping, make_executor: Any
) -> None:
    recorder = Recorder(bus)
    executor = await make_executor(chunk_bytes=64 * 1024, progress_interval_s=0.25)
    [loc] = files(mapping, 1, size=16 * MiB)

    executor.submit("cache", loc)
    await executor.run_until_idle()

    progress = recorder.of(OPERATION_PROGRESS)
    duration = recorder.of(OPERATION_COMPLETE)[0]["duration_s"]
    assert 1 <= len(progress) <= duration / 0.25 + 2  # 256 chunks, a handful of events
    last = progress[-1]
    assert (last["bytes_done"], last["size"], last["eta_s"]) == (16 * MiB, 16 * MiB, 0.0)
    assert last["speed_bps"] > 0 and last["path"] == loc.plex_path


def test_progress_reporter_throttles_by_its_clock() -> None:
    loop = asyncio.new_event_loop()
    try:
        bus, now = EventBus(), [0.0]
        sub = bus.subscribe({OPERATION_PROGRESS})
        report = ProgressReporter(
            loop, bus, op_id=1, kind="cache", path="/p", interval_s=0.25, clock=lambda: now[0]
        )
        for step in range(1, 11):  # ten chunks over one second
            now[0] = step * 0.1
            report(step * 10, 100)
        loop.run_until_complete(asyncio.sleep(0))
        seen = []
        while True:
            try:
                seen.append(sub.get_nowait().data)
            except asyncio.QueueEmpty:
                break
    finally:
        loop.close()
    assert [e["bytes_done"] for e in seen] == [10, 40, 70, 100]
    assert seen[0]["speed_bps"] == 100 and seen[0]["eta_s"] == 0.9


async def test_a_queued_operation_can_be_cancelled_before_it_starts(
    db: Database, bus: EventBus, mapping: Mapping, make_executor: Any
) -> None:
    recorder = Recorder(bus)
    executor = await make_executor(settings(copy_concurrency=1))
    first, second = files(mapping, 2)

    running = executor.submit("cache", first)
    queued = executor.submit("cache", second)
    assert executor.cancel(queued.id)
    await executor.run_until_idle()

    assert running.result.result().result == "done"
    assert queued.result.result().result == "cancelled"
    assert [c["result"] for c in recorder.of(OPERATION_COMPLETE)] == ["cancelled", "done"]
    assert len(recorder.of(OPERATION_STARTED)) == 1
    await assert_consistent(
        db, second, media_bytes(2 * MiB, seed=1), cached=False, empty_cache=False
    )
    assert not executor.cancel(999)


def sparse_source(mapping: Mapping) -> Any:
    """A 2 GiB file that costs no disk: a copy of it is long enough to be interrupted."""
    loc = locate(mapping, "Movies/Long.mkv")
    loc.array_path.parent.mkdir(parents=True)
    with open(loc.array_path, "wb") as handle:
        handle.truncate(2 * 2**30)
    return loc


async def test_a_running_copy_is_cancelled_cleanly(
    db: Database, bus: EventBus, mapping: Mapping, make_executor: Any
) -> None:
    executor = await make_executor()
    loc = sparse_source(mapping)
    progress = bus.subscribe({OPERATION_PROGRESS})

    op = executor.submit("cache", loc)
    await progress.get()
    assert executor.cancel(op.id)
    await executor.run_until_idle()

    assert op.result.result().result == "cancelled"
    assert temps(Path(mapping.cache)) == []
    assert tree(Path(mapping.cache)) == {}
    assert os.stat(loc.array_path).st_size == 2 * 2**30
    row = await db.fetchone("SELECT step, state FROM operations")
    assert tuple(row) == ("copying", "cancelled")  # type: ignore[arg-type]
    assert await db.fetchall("SELECT * FROM managed_files") == []


async def test_closing_cancels_running_and_queued_work(
    db: Database, bus: EventBus, mapping: Mapping
) -> None:
    executor = Executor(db, bus, lambda: settings(copy_concurrency=1), chunk_bytes=MiB)
    await executor.start()
    loc = sparse_source(mapping)
    [other] = files(mapping, 1)
    progress = bus.subscribe({OPERATION_PROGRESS})
    running = executor.submit("cache", loc)
    queued = executor.submit("cache", other)
    await progress.get()

    await executor.close()

    assert (running.result.result().result, queued.result.result().result) == (
        "cancelled", "cancelled",
    )  # fmt: skip
    assert tree(Path(mapping.cache)) == {}
    assert await db.fetchall("SELECT 1 FROM operations WHERE state = 'running'") == []
    with pytest.raises(RuntimeError, match="closing"):
        executor.submit("cache", other)


async def test_nothing_starts_while_the_mover_runs(
    db: Database, bus: EventBus, mapping: Mapping, make_executor: Any
) -> None:
    recorder = Recorder(bus)
    gate = Gate()
    executor = await make_executor(mover=gate)
    [loc] = files(mapping, 1)

    op = executor.submit("cache", loc)
    await gate.waiting.wait()

    assert op.state == "waiting"
    assert recorder.of(OPERATION_STARTED) == []
    assert await db.fetchall("SELECT * FROM operations") == []
    gate.open.set()
    await executor.run_until_idle()
    assert op.result.result().result == "done"


async def test_an_operation_waiting_for_the_mover_can_be_cancelled(
    db: Database, mapping: Mapping, make_executor: Any
) -> None:
    gate = Gate()
    executor = await make_executor(mover=gate)
    [loc] = files(mapping, 1)
    op = executor.submit("cache", loc)
    await gate.waiting.wait()

    assert executor.cancel(op.id)
    await executor.run_until_idle()

    assert op.result.result().result == "cancelled"
    assert await db.fetchall("SELECT * FROM operations") == []


async def test_skips_and_failures_are_reported_and_change_nothing(
    db: Database, bus: EventBus, mapping: Mapping, make_executor: Any
) -> None:
    recorder = Recorder(bus)
    changes: list[Outcome] = []
    executor = await make_executor(settings(limit="1MiB"), on_change=changes.append)
    linked, big = files(mapping, 2)
    os.link(linked.array_path, Path(mapping.array) / "seed.mkv")

    executor.submit("cache", linked)
    executor.submit("cache", big)
    await executor.run_until_idle()

    results = {c["path"]: (c["result"], c["error"]) for c in recorder.of(OPERATION_COMPLETE)}
    assert results[linked.plex_path][0] == "skipped"
    assert "hard links" in results[linked.plex_path][1]
    assert results[big.plex_path][0] == "failed"
    assert "not enough space on the pool" in results[big.plex_path][1]
    assert changes == []
    assert tree(Path(mapping.cache)) == {}


async def test_a_dry_run_says_what_would_happen_and_touches_nothing(
    db: Database, mapping: Mapping, make_executor: Any
) -> None:
    executor = await make_executor(settings(limit="3MiB"))
    cached, fresh, too_big = files(mapping, 3)
    executor.submit("cache", cached)
    await executor.run_until_idle()
    before = (tree(Path(mapping.array)), tree(Path(mapping.cache)))
    rows = await db.fetchall("SELECT * FROM operations")

    plans = await executor.dry_run(
        [("cache", fresh), ("cache", cached), ("restore", cached), ("restore", fresh)]
    )

    assert [p["action"] for p in plans] == ["refuse", "skip", "restore", "refuse"]
    assert "cache.limit" in plans[0]["reason"]
    assert plans[2]["reason"] == "unchanged since cached"
    assert plans[2]["steps"][0].startswith("rename E00.mkv.plexcached back to")
    assert (tree(Path(mapping.array)), tree(Path(mapping.cache))) == before
    assert len(await db.fetchall("SELECT * FROM operations")) == len(rows)
    roomy = await make_executor()
    [plan] = await roomy.dry_run([("cache", too_big)])
    assert plan["action"] == "cache" and plan["size_bytes"] == 2 * MiB
    assert plan["steps"][-1] == f"rename {too_big.array_path} to E02.mkv.plexcached"


def rot(path: Path) -> None:
    """Zero the first 4 KiB (a sampled block) and keep the size and times, as bit rot does."""
    before = os.stat(path)
    with open(path, "r+b") as handle:
        handle.write(bytes(4096))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


@pytest.mark.parametrize("mode", ["union", "symlink"])
async def test_a_damaged_cache_copy_never_replaces_the_original(
    db: Database,
    bus: EventBus,
    mapping: Mapping,
    make_executor: Any,
    mode: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 14 item 1: 4 KiB of the cache copy zeroed, size and mtime kept (bit rot on an
    SSD). Not an upgrade: the backup is renamed back, the damage reported (event, log line
    for the activity feed, notification under errors)."""
    recorder = Recorder(bus)
    conf = Settings(cache={"min_free": "0B", "limit": "100%"}, paths={"mode": mode})
    executor = await make_executor(conf)
    [loc] = files(mapping, 1)
    original = loc.array_path.read_bytes()
    assert (await executor.submit("cache", loc).result).result == "done"
    rot(loc.cache_path)

    outcome = await executor.submit("restore", loc).result

    assert outcome.result == "done"
    await assert_consistent(db, loc, original, cached=False)
    [complete] = [c for c in recorder.of(OPERATION_COMPLETE) if c["kind"] == "restore"]
    assert "damaged" in complete["warning"]
    assert any("damaged" in r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    message = compose(
        [e for e in recorder.events if e.type == OPERATION_COMPLETE], conf.notifications.events
    )
    assert message is not None and "damaged" in message.body
