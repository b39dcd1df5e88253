"""The state database: WAL, numbered migrations from every earlier version, refusals."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from pathlib import Path

import pytest

from cacherr.db import MIGRATIONS, SCHEMA_VERSION, Database, DatabaseError
from tests.foundation.holding import hold_writer

TABLES = {
    "operations",
    "managed_files",
    "claims",
    "users",
    "lists",
    "list_items",
    "pins",
    "activity",
    "usage_history",
    "kv",
}


async def test_a_new_database_has_every_table_in_wal_mode(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "c.db")
    try:
        assert await db.version() == SCHEMA_VERSION
        names = {
            r[0] for r in await db.fetchall("SELECT name FROM sqlite_master WHERE type='table'")
        }
        assert names >= TABLES
        (mode,) = await db.fetchone("PRAGMA journal_mode") or ("",)
        assert mode == "wal"
        (fk,) = await db.fetchone("PRAGMA foreign_keys") or (0,)
        assert fk == 1
    finally:
        await db.close()


@pytest.mark.parametrize("start", range(len(MIGRATIONS)))
async def test_upgrade_from_every_earlier_version(tmp_path: Path, start: int) -> None:
    path = tmp_path / "c.db"
    old = await Database.open(path, migrations=MIGRATIONS[:start])
    assert await old.version() == start
    await old.close()
    db = await Database.open(path)
    try:
        assert await db.version() == SCHEMA_VERSION
        names = {
            r[0] for r in await db.fetchall("SELECT name FROM sqlite_master WHERE type='table'")
        }
        assert names >= TABLES
    finally:
        await db.close()


async def test_a_database_from_a_newer_cacherr_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    db = await Database.open(path, migrations=[*MIGRATIONS, "CREATE TABLE later (x)"])
    await db.close()
    with pytest.raises(DatabaseError, match="newer than this Cacherr"):
        await Database.open(path)


async def test_a_failed_migration_leaves_the_previous_version(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    with pytest.raises(sqlite3.OperationalError):
        await Database.open(path, migrations=[*MIGRATIONS, "CREATE TABLE ok (x); BROKEN SQL"])
    db = await Database.open(path)
    try:
        assert await db.version() == SCHEMA_VERSION
        assert await db.fetchone("SELECT name FROM sqlite_master WHERE name='ok'") is None
    finally:
        await db.close()


async def test_a_transaction_commits_whole_or_not_at_all(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "c.db")
    try:

        async def insert_then_fail() -> None:
            async with db.transaction():
                await db.execute("INSERT INTO kv (key, value) VALUES ('a', '1')")
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            await insert_then_fail()
        assert await db.fetchone("SELECT * FROM kv") is None
        async with db.transaction():
            await db.execute("INSERT INTO kv (key, value) VALUES ('a', '1')")
        row = await db.fetchone("SELECT value FROM kv WHERE key='a'")
        assert row is not None and row["value"] == "1"
    finally:
        await db.close()


async def test_reads_do_not_queue_behind_a_write_that_waits(tmp_path: Path) -> None:
    # Another process holds the write lock: Cacherr's next write waits (busy_timeout), as a
    # commit does when a busy disk makes its fsync slow. Reads must still answer at once.
    db = await Database.open(tmp_path / "c.db")
    other = sqlite3.connect(tmp_path / "c.db", isolation_level=None)
    try:
        await db.execute("INSERT INTO kv (key, value) VALUES ('a', '1')")
        other.execute("BEGIN IMMEDIATE")
        write = asyncio.create_task(db.execute("INSERT INTO kv (key, value) VALUES ('b', '2')"))
        await asyncio.sleep(0.2)  # lets the write reach SQLite and wait there
        row = await asyncio.wait_for(db.fetchone("SELECT value FROM kv WHERE key = 'a'"), 10)
        assert row is not None and row[0] == "1"
        assert not write.done()  # the read was answered before the write could end
        other.execute("COMMIT")
        await asyncio.wait_for(write, 10)
        row = await db.fetchone("SELECT value FROM kv WHERE key = 'b'")
        assert row is not None and row[0] == "2"  # a read after a write sees it
    finally:
        other.close()
        await db.close()


async def test_a_transaction_reads_its_own_writes_and_others_see_them_after_commit(
    tmp_path: Path,
) -> None:
    db = await Database.open(tmp_path / "c.db")
    inside, release = asyncio.Event(), asyncio.Event()

    async def writer() -> None:
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO kv (key, value) VALUES ('t', 'x')")
            row = await tx.fetchone("SELECT value FROM kv WHERE key = 't'")
            assert row is not None and row[0] == "x"
            inside.set()
            await release.wait()

    try:
        task = asyncio.create_task(writer())
        await inside.wait()
        assert await db.fetchone("SELECT value FROM kv WHERE key = 't'") is None
        release.set()
        await task
        row = await db.fetchone("SELECT value FROM kv WHERE key = 't'")
        assert row is not None and row[0] == "x"
    finally:
        await db.close()


async def test_a_lone_write_never_joins_another_tasks_transaction(tmp_path: Path) -> None:
    """A journal step written while a claims transaction is open waits for it, and commits
    on its own: that transaction rolling back cannot take the step with it."""
    db = await Database.open(tmp_path / "c.db")
    inside, release = asyncio.Event(), asyncio.Event()

    async def claims_then_fail() -> None:
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO kv (key, value) VALUES ('claims', 'x')")
            inside.set()
            await release.wait()
            raise RuntimeError("the claims transaction fails")

    try:
        failing = asyncio.create_task(claims_then_fail())
        await inside.wait()
        step = asyncio.create_task(db.execute("INSERT INTO kv (key, value) VALUES ('step', 'y')"))
        await asyncio.sleep(0)  # the step is issued while the transaction is open
        assert not step.done()
        release.set()
        with pytest.raises(RuntimeError):
            await failing
        await asyncio.wait_for(step, 10)
        rows = await db.fetchall("SELECT key FROM kv ORDER BY key")
        assert [r[0] for r in rows] == ["step"]
    finally:
        await db.close()


async def test_a_transaction_cancelled_at_any_moment_leaves_the_database_writable(
    tmp_path: Path,
) -> None:
    """A task cancelled while it waits for BEGIN, a statement or COMMIT: the statement still
    runs on the database thread. Whatever moment the cancel lands on, the connection must not
    stay inside the transaction (every later write would fail), the row is there whole or
    not at all, and commits are synced again after an unsynced one."""
    db = await Database.open(tmp_path / "c.db")
    try:
        for n in range(40):
            durable = n % 2 == 0

            async def write(key: str, durable: bool) -> None:
                if not durable:  # the unsynced way: one body on the database thread
                    await db.run(lambda conn: _insert_then_update(conn, key), durable=False)
                    return
                async with db.transaction() as tx:
                    await tx.execute("INSERT INTO kv (key, value) VALUES (?, 'a')", (key,))
                    await tx.execute("UPDATE kv SET value = 'b' WHERE key = ?", (key,))

            task = asyncio.create_task(write(f"k{n}", durable))
            for _ in range(n // 2):  # lands on a later moment each time
                await asyncio.sleep(0)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await db.execute("INSERT INTO kv (key, value) VALUES (?, 'after')", (f"after{n}",))
            assert not db.conn.in_transaction
            (level,) = await db.fetchone("PRAGMA synchronous") or (0,)
            assert level == 2  # FULL
        rows = await db.fetchall("SELECT key, value FROM kv WHERE key LIKE 'k%'")
        assert all(r["value"] == "b" for r in rows)  # never half a transaction
        (written,) = await db.fetchone("SELECT COUNT(*) FROM kv WHERE key LIKE 'after%'") or (0,)
        assert written == 40
    finally:
        await db.close()


def _insert_then_update(conn: sqlite3.Connection, key: str) -> None:
    conn.execute("INSERT INTO kv (key, value) VALUES (?, 'a')", (key,))
    conn.execute("UPDATE kv SET value = 'b' WHERE key = ?", (key,))


async def test_an_unsynced_commit_is_kept_and_the_next_one_is_synced(tmp_path: Path) -> None:
    """`durable=False` (claims, the activity feed): its commit is in the database for every
    reader at once, and the connection is back to synced commits for the journal's next
    step."""
    path = tmp_path / "c.db"
    db = await Database.open(path)
    try:

        def claims(conn: sqlite3.Connection) -> int:
            conn.execute("INSERT INTO kv (key, value) VALUES ('claims', 'x')")
            return int(conn.execute("PRAGMA synchronous").fetchone()[0])

        inside = await db.run(claims, durable=False)
        await db.executemany(
            "INSERT INTO kv (key, value) VALUES (?, ?)", [("feed", "y")], durable=False
        )
        await db.execute("INSERT INTO kv (key, value) VALUES ('lone', 'z')", durable=False)
        (after,) = await db.fetchone("PRAGMA synchronous") or (0,)
        assert (inside, after) == (1, 2)  # NORMAL inside, FULL after
        with sqlite3.connect(path) as other:
            keys = [r[0] for r in other.execute("SELECT key FROM kv ORDER BY key")]
        assert keys == ["claims", "feed", "lone"]
    finally:
        await db.close()


async def test_run_is_one_whole_transaction_on_the_database_thread(tmp_path: Path) -> None:
    """`Database.run` (a reaction's claims): a body that raises leaves nothing; a wait that is
    cancelled leaves the transaction whole, since it runs on the thread in one go; inside
    `transaction()` it joins that transaction and rolls back with it."""
    db = await Database.open(tmp_path / "c.db")

    def two_rows(conn: sqlite3.Connection, key: str, fail: bool = False) -> int:
        conn.execute("INSERT INTO kv (key, value) VALUES (?, 'a')", (key + "1",))
        if fail:
            raise RuntimeError("the body fails half way")
        conn.execute("INSERT INTO kv (key, value) VALUES (?, 'b')", (key + "2",))
        return threading.get_ident()

    async def keys() -> list[str]:
        return [r[0] for r in await db.fetchall("SELECT key FROM kv ORDER BY key")]

    try:
        thread = await db.run(lambda conn: two_rows(conn, "ok"), durable=False)
        assert thread != threading.get_ident()
        with pytest.raises(RuntimeError):
            await db.run(lambda conn: two_rows(conn, "failed", fail=True))
        assert await keys() == ["ok1", "ok2"]

        task = asyncio.create_task(db.run(lambda conn: two_rows(conn, "cut")))
        await asyncio.sleep(0)  # sent to the thread, then the wait is cancelled
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await db.execute("INSERT INTO kv (key, value) VALUES ('after', 'c')")
        assert await keys() == ["after", "cut1", "cut2", "ok1", "ok2"]

        async def joined_then_fail() -> None:
            async with db.transaction():
                await db.run(lambda conn: two_rows(conn, "joined"))
                raise RuntimeError("the outer transaction fails")

        with pytest.raises(RuntimeError):
            await joined_then_fail()
        assert "joined1" not in await keys()
        (level,) = await db.fetchone("PRAGMA synchronous") or (0,)
        assert level == 2 and not db.conn.in_transaction
    finally:
        await db.close()


async def test_runs_waiting_together_are_written_in_one_transaction(tmp_path: Path) -> None:
    """A burst's claims: bodies that wait for a busy writer are written together when its
    turn comes, one BEGIN for all; one that raises is rolled back alone, and each body
    sees the writes of those before it."""
    db = await Database.open(tmp_path / "c.db")
    statements: list[str] = []

    def add(conn: sqlite3.Connection, n: int) -> int:
        conn.execute("INSERT INTO kv (key, value) VALUES (?, 'x')", (f"k{n:02d}",))
        if n == 7:
            raise ValueError("this one fails")
        return int(conn.execute("SELECT COUNT(*) FROM kv").fetchone()[0])

    try:
        holder, release = await hold_writer(db)
        await db.conn.set_trace_callback(statements.append)
        runs = [db.run(lambda conn, n=n: add(conn, n), durable=False) for n in range(20)]
        waiting = asyncio.gather(*runs, return_exceptions=True)
        await asyncio.sleep(0)
        release.set()
        results = await waiting
        await holder
        await db.conn.set_trace_callback(None)
        assert isinstance(results[7], ValueError)
        # busy + the bodies before it; the failed one left no row behind.
        assert results[:7] == list(range(2, 9)) and results[8:] == list(range(9, 21))
        keys = [r[0] for r in await db.fetchall("SELECT key FROM kv WHERE key LIKE 'k%'")]
        assert "k07" not in keys and len(keys) == 19
        assert sum(s.lstrip().upper().startswith("BEGIN") for s in statements) == 1
    finally:
        await db.close()


async def test_a_group_cancelled_before_its_turn_lets_its_writers_go(tmp_path: Path) -> None:
    """The task that would write a group is cancelled (the loop closing) while the writer is
    busy: its writers are told instead of waiting for ever, and a later write starts a group
    of its own instead of queueing behind nobody."""
    db = await Database.open(tmp_path / "c.db")

    try:
        holder, release = await hold_writer(db)
        writer = asyncio.create_task(db.run(lambda conn: 1, durable=False))
        await asyncio.sleep(0)
        (group,) = [t for t in asyncio.all_tasks() if t.get_name() == "db-group"]
        group.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(writer, 5)
        release.set()
        await holder
        assert await asyncio.wait_for(db.run(lambda conn: 2, durable=False), 5) == 2
    finally:
        await db.close()
