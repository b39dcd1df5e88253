"""The database's write turn: one writer at a time, the journal's synced writes first."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from cacherr.db import Database
from cacherr.writelock import WriteLock
from tests.foundation.holding import hold_writer


async def test_a_waiting_synced_write_goes_before_waiting_unsynced_ones() -> None:
    lock = WriteLock()
    order: list[str] = []
    release = asyncio.Event()

    async def write(name: str, synced: bool, hold: asyncio.Event | None = None) -> None:
        async with lock.turn(synced=synced):
            order.append(name)
            if hold is not None:
                await hold.wait()

    first = asyncio.create_task(write("claims-1", False, release))
    await asyncio.sleep(0)
    assert lock.locked()
    later = [
        asyncio.create_task(write(name, synced))
        for name, synced in [
            ("claims-2", False),
            ("claims-3", False),
            ("step-1", True),
            ("claims-4", False),
            ("step-2", True),
        ]
    ]
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(first, *later)
    assert order == ["claims-1", "step-1", "step-2", "claims-2", "claims-3", "claims-4"]
    assert not lock.locked()


async def test_a_cancelled_waiter_never_keeps_the_turn() -> None:
    """Cancelled while waiting, or just as the turn reached it: the next writer still gets
    the lock and it is free at the end."""
    lock = WriteLock()
    order: list[str] = []

    async def write(name: str, synced: bool) -> None:
        async with lock.turn(synced=synced):
            order.append(name)

    turn = lock.turn(synced=True)
    await turn.__aenter__()  # held here, so the hand-over below happens at a known moment
    waiting = asyncio.create_task(write("cancelled-waiting", True))
    handed = asyncio.create_task(write("cancelled-handed", True))
    last = asyncio.create_task(write("last", False))
    await asyncio.sleep(0)
    waiting.cancel()
    await asyncio.sleep(0)  # `waiting` is gone from the queue
    await turn.__aexit__(None, None, None)  # hands the turn to `handed`, which has not run
    handed.cancel()  # cancelled as the turn reached it: it must pass the turn to `last`
    await asyncio.gather(waiting, handed, return_exceptions=True)
    await last
    assert order == ["last"]
    assert not lock.locked()


async def test_a_journal_step_is_written_before_queued_claims(tmp_path: Path) -> None:
    """Through the real database: claims transactions queued behind a busy writer wait for
    a synced journal step that came after them."""
    db = await Database.open(tmp_path / "c.db")
    written: list[str] = []

    def claims(n: int) -> None:
        written.append(f"claims-{n}")

    async def step() -> None:
        await db.execute("INSERT INTO kv (key, value) VALUES ('step', '')")
        written.append("step")

    try:
        holder, release = await hold_writer(db)
        tasks = [asyncio.create_task(db.run(lambda _c, n=n: claims(n), durable=False))
                 for n in range(3)]  # fmt: skip
        await asyncio.sleep(0)
        tasks.append(asyncio.create_task(step()))
        await asyncio.sleep(0)
        release.set()
        await asyncio.gather(holder, *tasks)
        assert written == ["step", "claims-0", "claims-1", "claims-2"]
    finally:
        with contextlib.suppress(Exception):
            await db.close()
