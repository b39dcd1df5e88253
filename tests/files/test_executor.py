"""The operation queue: limits, events, cancellation, the mover, dry runs, closing."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from conftest import assert_consistent, locate, media_bytes, put_media, temps, tree
from waiting import until

from cacherr.config.models import Mapping, Settings
from cacherr.db import Database
from cacherr.demo.run import DEMO_COPY_LIMIT_MIB_S, DEMO_FILE_BYTES
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
        settings(copy_concurrency=2, restore_concurrency=1),
        on_finish=lambda op, outcome: changes.append(outcome),
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
    gate = Gate()
    executor = await make_executor(settings(copy_concurrency=1), mover=gate)
    loc, other = files(mapping, 2)
    executor.submit("cache", other, holder="alice", rating_key="a")  # the one copy slot

    # Its cache ranks low (alice's second item), its restore high and in a free lane: asked
    # for first, the cache still goes first.
    first = executor.submit("cache", loc, holder="alice", rating_key="b")
    assert executor.submit("cache", loc) is first
    restore = executor.submit("restore", loc, priority=1000.0)
    await gate.waiting.wait()
    gate.open.set()
    await executor.run_until_idle()

    assert (first.result.result().result, restore.result.result().result) == ("done", "done")
    await assert_consistent(db, loc, media_bytes(2 * MiB, seed=0), cached=False,
                            empty_cache=False)  # fmt: skip


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
    executor = await make_executor(
        settings(limit="1MiB"), on_finish=lambda op, outcome: changes.append(outcome)
    )
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
    # The owner hears of every end through the one hook, however it ended.
    assert sorted(c.result for c in changes) == ["failed", "skipped"]
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


async def test_the_one_queue_serves_each_holders_first_item_before_anyones_second(
    mapping: Mapping, bus: EventBus, make_executor: Any
) -> None:
    recorder = Recorder(bus)
    gate = Gate()
    executor = await make_executor(settings(copy_concurrency=1), mover=gate)
    locs = files(mapping, 6, size=4096)
    # alice's window arrives first (her next episode at 670, then 660 and 628), then bob's
    # (a friend: 640, 630); the first copy taken waits for the mover, the rest queue.
    wanted = [("alice", "e1", 670.0), ("alice", "e0", 660.0), ("alice", "e2", 628.0),
              ("bob", "e1", 640.0), ("bob", "e0", 630.0)]  # fmt: skip
    for (holder, item, priority), loc in zip(wanted, locs, strict=False):
        executor.submit("cache", loc, priority=priority, holder=holder,
                        rating_key=f"{holder}-{item}")  # fmt: skip
    # A sidecar of alice's next episode (same item) keeps that item's place.
    executor.submit("cache", locs[5], priority=670.0, holder="alice", rating_key="alice-e1")
    await gate.waiting.wait()

    assert [op.rating_key for op in executor.operations()] == [
        "alice-e1",
        "alice-e1",
        "bob-e1",
        "alice-e0",
        "bob-e0",
        "alice-e2",
    ]
    gate.open.set()
    await executor.run_until_idle()
    order = [s["path"] for s in recorder.of(OPERATION_STARTED)]
    assert order == [locs[i].plex_path for i in (0, 5, 3, 1, 4, 2)]


async def test_the_one_queue_counts_each_play_then_each_person(
    mapping: Mapping, bus: EventBus, make_executor: Any
) -> None:
    """One account plays two shows on two screens (windows a and b) and a friend one show:
    every play's first item starts before any play's second; among first items, each
    person's first before anyone's second, then priority."""
    recorder = Recorder(bus)
    gate = Gate()
    executor = await make_executor(settings(copy_concurrency=1), mover=gate)
    locs = files(mapping, 8, size=4096)
    wanted = [("owner", "a", "a1", 700.0), ("owner", "a", "a0", 690.0),
              ("owner", "b", "b1", 700.0), ("owner", "b", "b0", 690.0),
              ("friend", "c", "c1", 640.0), ("friend", "c", "c0", 630.0),
              ("owner", None, "movie", 650.0)]  # fmt: skip
    for (holder, show, item, priority), loc in zip(wanted, locs, strict=False):
        executor.submit("cache", loc, priority=priority, holder=holder, show=show,
                        rating_key=item)  # fmt: skip
    await gate.waiting.wait()

    # a1 was taken first (it waits for the mover); then depth (0, 0) c1, (0, 2) b1,
    # (0, 4) movie; then the second items a0, b0, c0 by person depth.
    assert [op.rating_key for op in executor.operations()] == [
        "a1", "c1", "b1", "movie", "a0", "c0", "b0",
    ]  # fmt: skip
    gate.open.set()
    await executor.run_until_idle()
    assert len(recorder.of(OPERATION_STARTED)) == len(wanted)


async def test_while_a_small_first_item_is_copied_nobody_elses_second_starts_beside_it(
    mapping: Mapping, bus: EventBus, make_executor: Any
) -> None:
    """Three slots. bob's and alice's first items (small) are copying; alice's second waits
    for them although a slot is free, and carol's first, arriving after it, takes that slot.
    A person's own items do not hold each other back: dave's second starts beside his first."""
    recorder = Recorder(bus)
    gate = Gate()
    executor = await make_executor(settings(copy_concurrency=3), mover=gate)
    locs = files(mapping, 6, size=4096)
    wanted = [("bob", "b1", 640.0), ("alice", "a1", 670.0), ("alice", "a0", 660.0),
              ("carol", "c1", 640.0)]  # fmt: skip
    for (holder, item, priority), loc in zip(wanted, locs, strict=False):
        executor.submit("cache", loc, priority=priority, holder=holder, show=holder,
                        rating_key=item, size_bytes=4096)  # fmt: skip
        await asyncio.sleep(0)  # each arrives on its own, as plays do
    await gate.waiting.wait()
    states = {op.rating_key: op.state for op in executor.operations()}
    assert states == {"b1": "waiting", "a1": "waiting", "a0": "queued", "c1": "waiting"}
    gate.open.set()
    await executor.run_until_idle()
    assert len(recorder.of(OPERATION_COMPLETE)) == 4

    gate.open.clear()
    for (item, priority), loc in zip([("d1", 670.0), ("d0", 660.0)], locs[4:], strict=True):
        executor.submit("cache", loc, priority=priority, holder="dave", show="dave",
                        rating_key=item, size_bytes=4096)  # fmt: skip
        await asyncio.sleep(0)
    await gate.waiting.wait()
    assert {op.rating_key: op.state for op in executor.operations()} == {
        "d1": "waiting", "d0": "waiting",
    }  # fmt: skip
    gate.open.set()
    await executor.run_until_idle()
    assert [e["result"] for e in recorder.of(OPERATION_COMPLETE)] == ["done"] * 6


async def test_while_a_play_is_worked_out_its_first_item_finds_a_slot(
    mapping: Mapping, bus: EventBus, make_executor: Any
) -> None:
    """Two slots. While plays are being worked out, alice's next episode takes one slot and
    the episode she is playing (deeper in her window) leaves the last one to the first item
    of the play that comes next (bob's). Once no play is being worked out, a deeper item
    takes a free slot again."""
    recorder = Recorder(bus)
    gate = Gate()
    executor = await make_executor(settings(copy_concurrency=2), mover=gate)
    locs = files(mapping, 5, size=4096)

    def states() -> dict[str, str]:
        return {op.rating_key or "": op.state for op in executor.operations()}

    with executor.play_coming():
        for (holder, item, priority), loc in zip(
            [("alice", "a1", 670.0), ("alice", "a0", 660.0)], locs, strict=False
        ):
            executor.submit("cache", loc, priority=priority, holder=holder, show=holder,
                            rating_key=item)  # fmt: skip
        await gate.waiting.wait()
        with executor.play_coming():  # bob's play, worked out meanwhile
            executor.submit("cache", locs[2], priority=640.0, holder="bob", show="bob",
                            rating_key="b1")  # fmt: skip
            await until(lambda: states().get("b1") == "waiting")
        assert states() == {"a1": "waiting", "b1": "waiting", "a0": "queued"}
    gate.open.set()
    await executor.run_until_idle()
    started = [s["path"] for s in recorder.of(OPERATION_STARTED)]
    assert started == [locs[i].plex_path for i in (0, 2, 1)]

    gate.open.clear()
    gate.waiting.clear()
    with executor.play_coming():
        for (item, priority), loc in zip([("c1", 670.0), ("c0", 660.0)], locs[3:], strict=True):
            executor.submit("cache", loc, priority=priority, holder="carol", show="carol",
                            rating_key=item)  # fmt: skip
        await gate.waiting.wait()
        assert states() == {"c1": "waiting", "c0": "queued"}
    await until(lambda: states().get("c0") == "waiting")  # the play worked out: the slot is free
    gate.open.set()
    await executor.run_until_idle()
    assert [e["result"] for e in recorder.of(OPERATION_COMPLETE)] == ["done"] * 5


async def test_an_operation_asked_for_again_before_its_owner_heard_of_its_end_is_not_repeated(
    mapping: Mapping, bus: EventBus, make_executor: Any
) -> None:
    """A restore ends; before the owner's hook has dropped the file from its books, a plan
    asks for the same restore. It gets the one that just ended, not a second restore of a
    file no longer managed (which failed, "not managed by Cacherr")."""
    recorder = Recorder(bus)
    asked_again: list[Any] = []
    executor: Any = None

    async def hook(op: Any, outcome: Any) -> None:
        if op.kind == "restore" and not asked_again:
            asked_again.append(executor.submit("restore", op.location))
            assert (op.location.mapping.name, op.location.rel) in executor.busy()

    executor = await make_executor(on_finish=hook)
    [loc] = files(mapping, 1)
    executor.submit("cache", loc)
    await executor.run_until_idle()
    first = executor.submit("restore", loc)
    await executor.run_until_idle()

    assert asked_again == [first]
    restores = [e for e in recorder.of(OPERATION_COMPLETE) if e["kind"] == "restore"]
    assert [e["result"] for e in restores] == ["done"]
    assert executor.busy() == set()


async def test_a_copy_waits_for_the_operations_it_comes_after(
    mapping: Mapping, bus: EventBus, make_executor: Any
) -> None:
    recorder = Recorder(bus)
    executor = await make_executor(settings(copy_concurrency=2, restore_concurrency=1))
    first, second, third = files(mapping, 3)
    executor.submit("cache", first)
    await executor.run_until_idle()

    leaving = executor.submit("restore", first)
    coming = executor.submit("cache", second, after=[leaving], priority=900.0)
    executor.submit("cache", third)
    await executor.run_until_idle()

    events = [(e.type, e.data["path"]) for e in recorder.events if e.type != OPERATION_PROGRESS]
    assert events.index((OPERATION_COMPLETE, leaving.location.plex_path)) < events.index(
        (OPERATION_STARTED, coming.location.plex_path)
    )
    assert coming.result.result().result == "done"


def rate_bps(progress: list[Event]) -> float:
    """Bytes per second of the copies together (summed when they run side by side), each
    from its first report to its last (so the first chunk, copied before any pacing, does
    not count). Times are the copying thread's own: elapsed = bytes_done / speed_bps, as the
    reporter measured them there, so a busy event loop does not skew them."""
    seen: dict[int, list[tuple[float, int]]] = {}
    for event in progress:
        done, speed = event.data["bytes_done"], event.data["speed_bps"]
        if speed > 0:
            seen.setdefault(event.data["id"], []).append((done / speed, done))
    total = 0.0
    for points in seen.values():
        (start, first), (end, last) = points[0], points[-1]
        total += (last - first) / (end - start)
    return total


async def test_the_bandwidth_limit_holds_within_ten_percent_across_copies(
    bus: EventBus, mapping: Mapping, make_executor: Any
) -> None:
    recorder = Recorder(bus)
    limit_mib_s = 8.0
    executor = await make_executor(
        settings(copy_limit_mib_s=limit_mib_s, copy_concurrency=2), progress_interval_s=0.1
    )
    locs = files(mapping, 2, size=12 * MiB)
    for loc in locs:
        executor.submit("cache", loc)
    await executor.run_until_idle()

    assert recorder.most_at_once("cache") == 2
    progress = [e for e in recorder.events if e.type == OPERATION_PROGRESS]
    assert len(progress) >= 10
    assert rate_bps(progress) == pytest.approx(limit_mib_s * MiB, rel=0.10)
    assert executor.limits()["copy_limit_mib_s"] == limit_mib_s


@pytest.fixture
def unraid(tmp_path: Path) -> tuple[Mapping, Path]:
    """An Unraid layout: the share `tv` on the array as /mnt/user0/tv, held by disk1 and disk2."""
    mnt = tmp_path / "mnt"
    for folder in ("user0/tv", "disk1/tv", "disk2/tv", "cache/tv"):
        (mnt / folder).mkdir(parents=True)
    tv = Mapping(name="tv", plex="/data/tv", array=str(mnt / "user0/tv"),
                 cache=str(mnt / "cache/tv"))  # fmt: skip
    return tv, mnt


def on_disk(tv: Mapping, mnt: Path, disk: str, rel: str, size: int, seed: int) -> Any:
    """A file of the union /mnt/user0 that lives on `disk` (its name there marks where)."""
    loc = locate(tv, rel)
    put_media(loc, media_bytes(size, seed=seed))
    (mnt / disk / "tv" / rel).parent.mkdir(parents=True, exist_ok=True)
    (mnt / disk / "tv" / rel).touch()
    return loc


@pytest.mark.parametrize("disks_at", ["mnt", "host/mnt"])
async def test_one_copy_per_array_disk_at_a_time_paced_per_disk(
    bus: EventBus, unraid: tuple[Mapping, Path], make_executor: Any, tmp_path: Path, disks_at: str
) -> None:
    """`host/mnt`: the container's layout (the template's), the array at its host path
    (<tmp>/mnt/user0) and the host's disks mapped read-only elsewhere (<tmp>/host/mnt)."""
    tv, _ = unraid
    disks = tmp_path / disks_at
    recorder = Recorder(bus)
    executor = await make_executor(
        settings(copy_concurrency=3, disk_limit_mib_s=16.0, disks_root=str(disks)),
        progress_interval_s=0.05,
    )
    one = [on_disk(tv, disks, "disk1", f"A/E{i}.mkv", 16 * MiB, i) for i in range(2)]
    two = on_disk(tv, disks, "disk2", "B/E1.mkv", 16 * MiB, 9)
    ops = [executor.submit("cache", loc) for loc in [*one, two]]
    await executor.run_until_idle()

    assert [op.disk for op in ops] == ["disk1", "disk1", "disk2"]
    assert [op.result.result().result for op in ops] == ["done"] * 3
    timeline = [(e.type, e.data["path"]) for e in recorder.events if e.type != OPERATION_PROGRESS]
    first, second = (loc.plex_path for loc in one)
    # disk1's two copies one after the other; disk2's beside the first of them.
    assert timeline.index((OPERATION_COMPLETE, first)) < timeline.index((OPERATION_STARTED, second))
    assert recorder.most_at_once("cache") == 2
    per_disk = [e for e in recorder.events if e.type == OPERATION_PROGRESS
                and e.data["path"] == two.plex_path]  # fmt: skip
    assert rate_bps(per_disk) == pytest.approx(16 * MiB, rel=0.10)


async def test_the_demos_copies_move_slowly_enough_to_watch(
    bus: EventBus, mapping: Mapping, make_executor: Any
) -> None:
    """`cacherr demo` limits copies so its 8 MiB episodes show progress bars for seconds."""
    recorder = Recorder(bus)
    limit = DEMO_COPY_LIMIT_MIB_S
    executor = await make_executor(settings(copy_limit_mib_s=limit))
    [loc] = files(mapping, 1, size=DEMO_FILE_BYTES)

    executor.submit("cache", loc)
    await executor.run_until_idle()

    progress = [e for e in recorder.events if e.type == OPERATION_PROGRESS]
    # One report every 0.25 s of a copy that takes 8 MiB / 4 MiB/s: several, not one.
    assert len(progress) >= 5
    assert rate_bps(progress) == pytest.approx(limit * MiB, rel=0.10)


async def test_a_copy_cancelled_while_its_disk_is_looked_up_never_starts(
    bus: EventBus, unraid: tuple[Mapping, Path], make_executor: Any
) -> None:
    tv, mnt = unraid
    recorder = Recorder(bus)
    executor = await make_executor(settings(disks_root=str(mnt)))
    loc = on_disk(tv, mnt, "disk1", "A/E1.mkv", MiB, 1)

    first = executor.submit("cache", loc, holder="alice", rating_key="e1")
    assert executor.cancel(first.id)
    again = executor.submit("cache", loc, holder="alice", rating_key="e1")
    await executor.run_until_idle()

    assert first.result.result().result == "cancelled"
    assert (again.result.result().result, again.disk, again.depth) == ("done", "disk1", 0)
    assert [s["id"] for s in recorder.of(OPERATION_STARTED)] == [again.id]


async def test_where_the_disk_cannot_be_told_each_copy_is_paced_on_its_own(
    bus: EventBus, mapping: Mapping, make_executor: Any
) -> None:
    recorder = Recorder(bus)
    executor = await make_executor(
        settings(disk_limit_mib_s=8.0, copy_concurrency=2), progress_interval_s=0.1
    )
    ops = [executor.submit("cache", loc) for loc in files(mapping, 2, size=12 * MiB)]
    await executor.run_until_idle()

    assert [op.disk for op in ops] == [None, None]
    assert recorder.most_at_once("cache") == 2
    for op in ops:
        mine = [e for e in recorder.events
                if e.type == OPERATION_PROGRESS and e.data["id"] == op.id]  # fmt: skip
        assert rate_bps(mine) == pytest.approx(8 * MiB, rel=0.10)


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


# --- small files: batches ------------------------------------------------------------------


def subtitles(mapping: Mapping, shows: int, per_show: int) -> list[Any]:
    """`per_show` 4 KiB subtitles in each of `shows` show folders, seeded show * 100 + n."""
    locs = []
    for show in range(shows):
        for n in range(per_show):
            loc = locate(mapping, f"Show {show}/Season 01/E{n:02d}.en.srt")
            put_media(loc, media_bytes(4096, seed=show * 100 + n))
            locs.append(loc)
    return locs


class Commits:
    """Counts the transactions committed on a real connection (SQLite's trace callback)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, statement: str) -> None:
        if statement.strip().upper() == "COMMIT":
            self.count += 1


async def test_small_files_are_cached_in_batches_with_a_few_commits_for_all(
    db: Database, bus: EventBus, mapping: Mapping, make_executor: Any
) -> None:
    recorder = Recorder(bus)
    executor = await make_executor(settings())  # defaults: 2 copies at once
    locs = subtitles(mapping, shows=4, per_show=10)
    commits = Commits()
    await db.conn.set_trace_callback(commits)

    # 40 people's next episode each (its subtitle), all at once, as a plan hands them over.
    ops = [
        executor.submit("cache", loc, holder=f"viewer{i}", rating_key=str(i), size_bytes=4096)
        for i, loc in enumerate(locs)
    ]
    await executor.run_until_idle()
    await db.conn.set_trace_callback(None)

    assert [op.result.result().result for op in ops] == ["done"] * 40
    for i, loc in enumerate(locs):
        data = media_bytes(4096, seed=(i // 10) * 100 + i % 10)
        await assert_consistent(db, loc, data, cached=True, empty_cache=False)
    # One at a time, each file took 9 commits (360); a batch takes 4 for all its files
    # (journal, publishing, hiding, done), and 40 files make 2 batches.
    assert commits.count <= 8
    assert len(recorder.of(OPERATION_STARTED)) == len(recorder.of(OPERATION_COMPLETE)) == 40
    steps = await db.fetchall("SELECT DISTINCT step, state FROM operations")
    assert [tuple(r) for r in steps] == [("hiding", "done")]


async def test_a_file_that_fails_in_a_batch_fails_alone(
    db: Database, mapping: Mapping, make_executor: Any
) -> None:
    executor = await make_executor(settings(), mover=(gate := Gate()))
    locs = subtitles(mapping, shows=1, per_show=6)
    taken = locs[2]
    taken.cache_path.parent.mkdir(parents=True)
    taken.cache_path.write_bytes(b"someone else's file")
    gone = locs[4]
    ops = [executor.submit("cache", loc, size_bytes=4096) for loc in locs]
    await gate.waiting.wait()
    gone.array_path.unlink()  # after it was queued, before the batch looked at it
    assert len({op.task for op in ops}) == 1  # one batch
    gate.open.set()
    await executor.run_until_idle()

    results = [op.result.result() for op in ops]
    assert [r.result for r in results] == ["done", "done", "failed", "done", "failed", "done"]
    assert "already exists" in (results[2].error or "")
    assert taken.cache_path.read_bytes() == b"someone else's file"
    assert taken.array_path.read_bytes() == media_bytes(4096, seed=2)
    for i in (0, 1, 3, 5):
        await assert_consistent(db, locs[i], media_bytes(4096, seed=i), cached=True,
                                empty_cache=False)  # fmt: skip
    rows = await db.fetchall("SELECT state FROM operations ORDER BY id")
    assert [r[0] for r in rows] == ["done", "done", "failed", "done", "failed", "done"]


async def test_a_copy_cancelled_while_its_batch_copies_stops_alone(
    db: Database, bus: EventBus, mapping: Mapping, make_executor: Any
) -> None:
    """A batch syncs and checks each copy on other threads while it copies the next. One of
    its files cancelled once the batch is copying (its first file has reported progress)
    is cleaned up alone, wherever the cancellation finds it; the files copied and checked
    before it and those after it are cached, each whole."""
    recorder = Recorder(bus)
    size = 128 * 1024
    # Paced to 1 MiB/s, each file takes an eighth of a second: the fourth has not started
    # when the first reports.
    executor = await make_executor(settings(copy_limit_mib_s=1.0), chunk_bytes=32 * 1024,
                                   progress_interval_s=0.02)  # fmt: skip
    locs = files(mapping, 6, size=size)
    ops = [executor.submit("cache", loc, size_bytes=size) for loc in locs]
    await until(lambda: any(e["id"] == ops[0].id for e in recorder.of(OPERATION_PROGRESS)))
    assert len({op.task for op in ops}) == 1 and all(op.batched for op in ops)
    assert executor.cancel(ops[3].id)
    await executor.run_until_idle()

    results = [op.result.result().result for op in ops]
    assert results == ["done", "done", "done", "cancelled", "done", "done"]
    for i in (0, 1, 2, 4, 5):
        await assert_consistent(db, locs[i], media_bytes(size, seed=i), cached=True,
                                empty_cache=False)  # fmt: skip
    await assert_consistent(db, locs[3], media_bytes(size, seed=3), cached=False,
                            empty_cache=False)  # fmt: skip
    assert not locs[3].cache_path.exists()


async def test_copies_of_one_level_are_shared_between_the_slots(
    db: Database, mapping: Mapping, make_executor: Any
) -> None:
    """Twelve small copies at one level and two slots: two batches of six side by side (a
    batch's files are complete only when its last one is), not one of twelve while the
    other slot waits. A run too short to share (six) stays one batch: see
    `test_a_file_that_fails_in_a_batch_fails_alone`."""
    executor = await make_executor(settings(copy_concurrency=2), mover=(gate := Gate()))
    locs = subtitles(mapping, shows=3, per_show=4)
    ops = [executor.submit("cache", loc, priority=20.0 - i, size_bytes=4096)
           for i, loc in enumerate(locs)]  # fmt: skip
    await gate.waiting.wait()

    tasks = [op.task for op in ops]
    assert None not in tasks and len(set(tasks)) == 2
    assert tasks[:6] == [tasks[0]] * 6 and tasks[6:] == [tasks[6]] * 6  # in the fair order
    assert all(op.batched for op in ops)
    gate.open.set()
    await executor.run_until_idle()
    assert [op.result.result().result for op in ops] == ["done"] * 12
    for i, loc in enumerate(locs):
        data = media_bytes(4096, seed=(i // 4) * 100 + i % 4)
        await assert_consistent(db, loc, data, cached=True, empty_cache=False)


async def test_symlink_mode_batches_keep_the_array_name_a_symlink(
    db: Database, mapping: Mapping, make_executor: Any
) -> None:
    conf = Settings(
        cache={"min_free": "0B", "limit": "100%"},
        paths={"mode": "symlink", "mappings": [mapping.model_dump()]},
    )
    executor = await make_executor(conf)
    locs = subtitles(mapping, shows=2, per_show=5)
    ops = [executor.submit("cache", loc, size_bytes=4096) for loc in locs]
    await executor.run_until_idle()

    assert len({op.task for op in ops}) < len(ops)
    for i, loc in enumerate(locs):
        data = media_bytes(4096, seed=(i // 5) * 100 + i % 5)
        await assert_consistent(db, loc, data, cached=True, empty_cache=False)
        assert os.readlink(loc.array_path) == str(loc.cache_path)


async def test_a_big_copy_ends_a_batch_and_starts_in_its_own_slot(
    db: Database, mapping: Mapping, make_executor: Any
) -> None:
    executor = await make_executor(settings(), mover=(gate := Gate()))
    small = subtitles(mapping, shows=1, per_show=4)
    (big,) = files(mapping, 1)
    # One order, by priority: two small copies, the big one, two more small ones.
    sizes = [4096, 4096, 2 * MiB * 4, 4096, 4096]
    locs = [small[0], small[1], big, small[2], small[3]]
    ops = [
        executor.submit("cache", loc, priority=10.0 - i, size_bytes=size)
        for i, (loc, size) in enumerate(zip(locs, sizes, strict=True))
    ]
    await gate.waiting.wait()

    # Two slots: the first two small copies together, the big one alone; the rest wait
    # for a slot rather than joining a batch ahead of the big copy.
    assert ops[0].task is ops[1].task and ops[0].batched
    assert ops[2].task is not None and ops[2].task is not ops[0].task and not ops[2].batched
    assert [op.state for op in ops[3:]] == ["queued", "queued"]
    gate.open.set()
    await executor.run_until_idle()
    assert [op.result.result().result for op in ops] == ["done"] * 5
    assert ops[3].task is ops[4].task
