"""The state database: WAL, numbered migrations from every earlier version, refusals."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from cacherr.db import MIGRATIONS, SCHEMA_VERSION, Database, DatabaseError

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
