"""The state database (SQLite in the config folder): schema, migrations and a thin async handle.

The schema grows only by appending to `MIGRATIONS`; `PRAGMA user_version` records how many
have been applied. aiosqlite runs every statement on its own thread, off the event loop.

Two connections: writes (and reads inside a transaction) go to the writer, whose commits wait
for the disk (`synchronous = FULL`); every other read goes to a query-only reader. In WAL mode
the reader sees the last commit without waiting, so the page and the API never queue behind
a journal fsync that a busy disk makes slow.

One write at a time (`WriteLock`): the journal's synced writes before derived state (claims,
the feed, tokens), which is committed unsynced (`run(durable=False)`). `run` writes a transaction
in one trip to the database thread, and groups those that wait together (`dbgroup`).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from cacherr.dbgroup import SYNCED, Body, Outcome, run_group
from cacherr.errors import DatabaseUnwritable
from cacherr.writelock import WriteLock

log = logging.getLogger(__name__)

DB_NAME = "cacherr.db"

MIGRATIONS: list[str] = [
    # 1: the journal, managed files, claims, users, lists, pins, activity, usage history.
    """
    CREATE TABLE operations (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('cache', 'restore')),
        mapping TEXT NOT NULL,
        rel_path TEXT NOT NULL,
        array_path TEXT NOT NULL,
        cache_path TEXT NOT NULL,
        temp_path TEXT,
        step TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'running'
            CHECK (state IN ('running', 'done', 'failed', 'cancelled', 'rolled_back')),
        size_bytes INTEGER,
        bytes_done INTEGER NOT NULL DEFAULT 0,
        fingerprint TEXT,
        reason TEXT,
        error TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        finished_at REAL
    );
    CREATE INDEX operations_running ON operations (state) WHERE state = 'running';
    CREATE INDEX operations_created ON operations (created_at);

    CREATE TABLE managed_files (
        id INTEGER PRIMARY KEY,
        mapping TEXT NOT NULL,
        rel_path TEXT NOT NULL,
        plex_path TEXT NOT NULL,
        rating_key TEXT,
        parent_id INTEGER REFERENCES managed_files (id) ON DELETE CASCADE,
        state TEXT NOT NULL DEFAULT 'cached',
        size_bytes INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        fingerprint TEXT,
        has_backup INTEGER NOT NULL DEFAULT 1,
        created_dirs TEXT NOT NULL DEFAULT '[]',
        adopted INTEGER NOT NULL DEFAULT 0,
        cached_at REAL NOT NULL,
        released_at REAL,
        UNIQUE (mapping, rel_path)
    );
    CREATE INDEX managed_files_plex_path ON managed_files (plex_path);
    CREATE INDEX managed_files_rating_key ON managed_files (rating_key);

    CREATE TABLE claims (
        id INTEGER PRIMARY KEY,
        plex_path TEXT NOT NULL,
        rating_key TEXT,
        show_key TEXT,
        source TEXT NOT NULL CHECK (source IN
            ('playing', 'next_up', 'ondeck', 'watchlist', 'list', 'pinned', 'manual')),
        user_id TEXT NOT NULL DEFAULT '',
        priority REAL NOT NULL DEFAULT 0,
        reason TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        expires_at REAL,
        UNIQUE (plex_path, source, user_id)
    );
    CREATE INDEX claims_show_key ON claims (show_key);
    CREATE INDEX claims_rating_key ON claims (rating_key);

    CREATE TABLE users (
        id TEXT PRIMARY KEY,
        username TEXT NOT NULL,
        title TEXT NOT NULL DEFAULT '',
        kind TEXT NOT NULL CHECK (kind IN ('main', 'home', 'shared')),
        thumb TEXT,
        token TEXT,
        token_fetched_at REAL,
        last_active_at REAL,
        updated_at REAL NOT NULL
    );

    CREATE TABLE lists (
        name TEXT PRIMARY KEY,
        state TEXT NOT NULL DEFAULT 'new',
        fetched_at REAL,
        error TEXT,
        item_count INTEGER NOT NULL DEFAULT 0,
        truncated INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE list_items (
        list_name TEXT NOT NULL REFERENCES lists (name) ON DELETE CASCADE ON UPDATE CASCADE,
        position INTEGER NOT NULL,
        kind TEXT,
        title TEXT,
        year INTEGER,
        ids TEXT NOT NULL DEFAULT '{}',
        released TEXT,
        match_state TEXT NOT NULL DEFAULT 'pending',
        rating_key TEXT,
        by_title INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (list_name, position)
    );

    CREATE TABLE pins (
        rating_key TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        title TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL
    );

    CREATE TABLE activity (
        id INTEGER PRIMARY KEY,
        ts REAL NOT NULL,
        level TEXT NOT NULL,
        type TEXT NOT NULL,
        message TEXT NOT NULL,
        data TEXT
    );
    CREATE INDEX activity_ts ON activity (ts);

    CREATE TABLE usage_history (
        ts INTEGER PRIMARY KEY,
        used_bytes INTEGER NOT NULL,
        limit_bytes INTEGER NOT NULL,
        files INTEGER NOT NULL
    );

    CREATE TABLE kv (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
    # 2: claims looked up by (source, user[, show]) and by expiry, as the reactor replaces a
    # user's window on one show and the sweep expires watchlist claims.
    """
    CREATE INDEX claims_source_user ON claims (source, user_id, show_key);
    CREATE INDEX claims_expires ON claims (expires_at) WHERE expires_at IS NOT NULL;
    """,
    # 3: when each import list was last tried, so a restart neither retries a failed list at
    # once nor forgets when the next try is due.
    """
    ALTER TABLE lists ADD COLUMN attempted_at REAL;
    UPDATE lists SET attempted_at = fetched_at;
    """,
    # 4: a media file's sidecars found by their parent (its size with sidecars, and the
    # cascade when the media row goes) without reading the whole table.
    """
    CREATE INDEX managed_files_parent ON managed_files (parent_id);
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)

# The two definitions every read of `managed_files m` shares (`files.queries`,
# `claims.queries`, `claims.store`): a media row is one that is not a sidecar, and a media
# file's bytes on the cache are its own and its sidecars' (an index search, migration 4).
MEDIA_ROW = "m.parent_id IS NULL"
SIZE_WITH_SIDECARS = (
    "m.size_bytes + COALESCE("
    "(SELECT SUM(k.size_bytes) FROM managed_files k WHERE k.parent_id = m.id), 0)"
)


# SQLite's primary result codes that mean "the disk or another process", not a bug of ours:
# BUSY, LOCKED, READONLY, IOERR, FULL, CANTOPEN.
_OUTSIDE_FAULTS = frozenset({5, 6, 8, 10, 13, 14})

T = TypeVar("T")

# Set inside `Database.transaction()`: that task's reads must see its own uncommitted writes.
_IN_TRANSACTION: contextvars.ContextVar[bool] = contextvars.ContextVar("in_tx", default=False)


class DatabaseError(Exception):
    """The database cannot be opened or is newer than this Cacherr."""


class DatabaseCorrupt(DatabaseError):
    """The file is not an SQLite database, or SQLite finds it damaged."""


# What SQLite says of a damaged file (SQLITE_NOTADB, SQLITE_CORRUPT).
_CORRUPT_WORDS = ("not a database", "malformed", "corrupt")
# What SQLite says when the folder or disk is at fault (not the SQL).
_FOLDER_WORDS = ("readonly", "unable to open", "disk i/o", "disk is full", "locked", "access")


class Database:
    """An open state database; every call runs on aiosqlite's threads."""

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path
        self._reader: aiosqlite.Connection | None = None
        self._writer = WriteLock()  # one write at a time, the journal's synced ones first
        # `run` bodies waiting for the writer, synced (True) and not, and their groups' tasks.
        self._waiting: dict[bool, list[tuple[Body, asyncio.Future[Outcome]]]] = {
            True: [],
            False: [],
        }
        self._groups: set[asyncio.Task[None]] = set()
        # Why the last write failed (a full disk, an I/O error, a lock held too long), until
        # a write succeeds again. Nothing moves meanwhile: the journal cannot be written.
        self.write_problem: str | None = None
        # Where a damaged database found at start-up was moved (this one started empty).
        self.replaced: Path | None = None

    @classmethod
    async def open_or_replace(cls, path: Path) -> Database:
        """`open`, except that a damaged file is moved aside (timestamped name, its WAL
        beside it) and an empty database started; `replaced` says where it went."""
        try:
            return await cls.open(path)
        except DatabaseCorrupt as exc:
            moved = await asyncio.to_thread(_move_aside, path)
            log.error("%s; moved it to %s and started an empty database: run Maintenance → "
                      "Audit to adopt the files already on the cache", exc, moved.name)  # fmt: skip
        db = await cls.open(path)
        db.replaced = moved
        return db

    @classmethod
    async def open(cls, path: Path, *, migrations: Sequence[str] = MIGRATIONS) -> Database:
        """Open (creating if needed), check and bring the schema up to date.

        Raises `DatabaseCorrupt` for a damaged file and `DatabaseError` with the reason when
        SQLite cannot open or write it (a read-only or full config folder, permissions).
        """
        try:
            return await cls._open(path, migrations)
        except sqlite3.DatabaseError as exc:
            text = str(exc)
            if any(w in text.lower() for w in _CORRUPT_WORDS):
                raise DatabaseCorrupt(f"{path} is damaged ({text})") from exc
            if not any(w in text.lower() for w in _FOLDER_WORDS):
                raise  # a bug in the SQL: as it is
            raise DatabaseError(
                f"cannot open {path} ({text}); the config folder must be writable by "
                "Cacherr's user (PUID/PGID) and have free space"
            ) from exc

    @classmethod
    async def _open(cls, path: Path, migrations: Sequence[str]) -> Database:
        await asyncio.to_thread(_private_files, path)
        conn = await _connect(path)
        db = cls(conn, path)
        try:
            await conn.execute("PRAGMA journal_mode = WAL")
            # FULL: a journal row that was committed survives a power cut.
            await conn.execute(SYNCED)
            checked = await conn.execute_fetchall("PRAGMA quick_check")
            verdict = [str(row[0]) for row in checked]
            if verdict != ["ok"]:
                raise sqlite3.DatabaseError(f"database disk image is malformed: {verdict[0]}")
            await db.migrate(migrations)
            db._reader = await _connect(path)
            await db._reader.execute("PRAGMA query_only = ON")
        except BaseException:
            await db.close()
            raise
        return db

    def _for_read(self) -> aiosqlite.Connection:
        if self._reader is None or _IN_TRANSACTION.get():
            return self.conn
        return self._reader

    async def version(self) -> int:
        """How many migrations have been applied."""
        row = await self.fetchone("PRAGMA user_version")
        assert row is not None
        return int(row[0])

    async def migrate(self, migrations: Sequence[str] = MIGRATIONS) -> None:
        """Apply the migrations this database has not seen, each in its own transaction."""
        current = await self.version()
        if current > len(migrations):
            raise DatabaseError(
                f"{self.path} has schema {current}, newer than this Cacherr's "
                f"{len(migrations)}: upgrade Cacherr"
            )
        for number, script in enumerate(migrations[current:], start=current + 1):
            try:
                await self.conn.executescript(
                    f"BEGIN IMMEDIATE;\n{script};\nPRAGMA user_version = {number};\nCOMMIT;"
                )
            except BaseException:
                if self.conn.in_transaction:
                    await self.conn.execute("ROLLBACK")
                raise
            log.info("Database %s migrated to schema %d", self.path.name, number)

    async def execute(
        self, sql: str, params: Sequence[Any] | dict[str, Any] = (), *, durable: bool = True
    ) -> int:
        """Run one statement; returns the last row id (for inserts).

        Inside `transaction()` it joins that transaction. Outside one it is a transaction of
        its own, in one trip to the database thread: it waits for any transaction in
        progress (so it cannot join another task's), then commits (with `synchronous =
        FULL`, durable unless `durable=False`: see `run`) by itself.
        """
        if _IN_TRANSACTION.get():
            return await self._execute(sql, params)
        if not durable:  # grouped with the other unsynced writes waiting (`run`)
            return await self.run(lambda conn: conn.execute(sql, params).lastrowid or 0,
                                  durable=False)  # fmt: skip
        async with self._writer.turn():
            return await self._execute(sql, params)

    async def _execute(self, sql: str, params: Sequence[Any] | dict[str, Any]) -> int:
        with self._writing():
            async with self.conn.execute(sql, params) as cur:
                return cur.lastrowid or 0

    async def executemany(
        self, sql: str, rows: Iterable[Sequence[Any]], *, durable: bool = True
    ) -> None:
        """Run one statement for many rows (outside a transaction: in one of its own)."""
        if not _IN_TRANSACTION.get() and not durable:  # grouped, as `execute`
            await self.run(lambda conn: conn.executemany(sql, rows), durable=False)
            return
        if not _IN_TRANSACTION.get():
            async with self.transaction() as tx:
                await tx.executemany(sql, rows)
            return
        with self._writing():
            cursor = await self.conn.executemany(sql, rows)
            await cursor.close()

    @contextlib.contextmanager
    def _writing(self, *, proves: bool = True) -> Iterator[None]:
        """Note why a write failed, and that writes work again (once committed).

        A failure of the disk or a lock held elsewhere is raised as `DatabaseUnwritable`
        (every caller's clear-error path); other SQLite errors are bugs and stay as they are.
        Only a synced commit `proves` writes work again: on a full disk a small unsynced one
        (the activity line saying the disk is full) can still fit in the WAL's pages.
        """
        try:
            yield
        except sqlite3.OperationalError as exc:
            if (exc.sqlite_errorcode & 0xFF) not in _OUTSIDE_FAULTS:
                raise
            if self.write_problem is None:
                log.error("Cannot write the state database %s: %s. Nothing is cached or "
                          "restored until it can be written.", self.path, exc)  # fmt: skip
            self.write_problem = str(exc)
            raise DatabaseUnwritable(f"the state database cannot be written ({exc})") from exc
        if self.write_problem is not None and proves and not _IN_TRANSACTION.get():
            log.warning("The state database %s can be written again", self.path)
            self.write_problem = None

    @property
    def writes(self) -> int:
        """How many writes (each statement or transaction outside one) have ended: a read
        made when this had some value still holds while it has that value."""
        return self._writer.turns

    async def fetchall(
        self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
    ) -> list[aiosqlite.Row]:
        """All rows of a query (one trip to the database thread)."""
        return list(await self._for_read().execute_fetchall(sql, params))

    async def fetchone(
        self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
    ) -> aiosqlite.Row | None:
        """The first row of a query, or None (for queries of one row: all rows are read)."""
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Database]:
        """Statements inside commit together or not at all (one transaction at a time), and
        synced. Unsynced writes go through `run(durable=False)`."""
        async with self._writer.turn():
            try:
                with self._writing(proves=False):  # a lock taken, nothing written yet
                    await self.conn.execute("BEGIN IMMEDIATE")
                token = _IN_TRANSACTION.set(True)
                try:
                    yield self
                finally:
                    _IN_TRANSACTION.reset(token)
                with self._writing():
                    await self.conn.execute("COMMIT")
            except BaseException:
                # Whatever failed or was cancelled (BEGIN, a statement, COMMIT on a full
                # disk), the connection must not stay inside the transaction, or every
                # later write on it would fail too.
                await asyncio.shield(asyncio.ensure_future(self._roll_back()))
                raise

    async def run(self, body: Callable[[sqlite3.Connection], T], *, durable: bool = True) -> T:
        """`body` as one transaction on the database thread: BEGIN, its statements on the
        connection it is given, COMMIT; rolled back if it raises.

        `durable=False` is for state Cacherr can derive again (claims, the activity feed,
        tokens): its commit is not fsynced. It survives Cacherr being killed (it is in the
        WAL), and a power cut once the next durable commit (every journal step is one) has
        synced the WAL, which reaches the disk in order; on a loaded disk a synced commit
        waits for the copies' writes, and the journal waits behind it.

        For writes that run often (a reaction's claims): `transaction()` takes a trip per
        statement, each waiting for the event loop's turn, while every other writer waits
        for the lock. Bodies that wait for the writer together are written together, each
        in a savepoint of its own (`dbgroup`). `body` runs on the database thread, so it
        must not block on anything but SQLite. Cancelling the wait cannot cut it in half:
        it runs whole. Inside `transaction()` it joins that transaction.
        """
        if _IN_TRANSACTION.get():
            with self._writing():
                joined: T = await self._on_thread(body, self.conn._conn)
            return joined
        done: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        done.add_done_callback(lambda f: f.cancelled() or f.exception())  # retrieved
        waiting = self._waiting[durable]
        waiting.append((body, done))
        if len(waiting) == 1:  # the first to wait starts the group's turn
            task = asyncio.create_task(self._write_group(durable), name="db-group")
            self._groups.add(task)
            task.add_done_callback(functools.partial(self._group_ended, durable, done))
        outcome = await asyncio.shield(done)
        if outcome.error is not None:
            with self._writing(proves=False):
                raise outcome.error
        value: T = outcome.value
        return value

    async def _write_group(self, durable: bool) -> None:
        group: list[tuple[Body, asyncio.Future[Outcome]]] = []
        try:
            async with self._writer.turn(synced=durable):
                group, self._waiting[durable] = self._waiting[durable], []
                with self._writing(proves=durable):
                    outcomes = await self._on_thread(
                        run_group, self.conn._conn, [body for body, _ in group], durable=durable
                    )
        except Exception as exc:
            outcomes = [Outcome(error=exc)] * len(group)
        except BaseException:
            for _, done in group:  # cancelled as it wrote (the loop closing): told so
                done.cancel()
            raise
        for (_, done), outcome in zip(group, outcomes, strict=True):
            if not done.done():
                done.set_result(outcome)

    def _group_ended(
        self, durable: bool, first: asyncio.Future[Outcome], task: asyncio.Task[None]
    ) -> None:
        """A group's task ended. Cancelled before it took its group (the loop closing), its
        writers are told so, rather than waiting for ever behind a turn nobody will take."""
        self._groups.discard(task)
        waiting = self._waiting[durable]
        if task.cancelled() and waiting and waiting[0][1] is first:
            self._waiting[durable] = []
            for _, done in waiting:
                done.cancel()

    async def _on_thread(self, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
        # aiosqlite runs every statement as a function on its thread; this hands it one of
        # ours (`_execute` and `_conn` are its internals, pinned in pyproject.toml).
        execute: Callable[..., Any] = self.conn._execute
        result: T = await execute(fn, *args, **kw)
        return result

    async def _roll_back(self) -> None:
        """Roll back whatever is open.

        A statement whose wait was cancelled still runs on the database thread (a BEGIN
        that then opens a transaction, a COMMIT that then closes it): the thread runs them
        in order, so a statement sent after them tells when they have run.
        """
        await self.conn.execute("SELECT 1")
        if self.conn.in_transaction:
            await self.conn.execute("ROLLBACK")

    async def ping(self) -> bool:
        """Whether the database answers."""
        try:
            await self.fetchone("SELECT 1")
        except Exception:
            return False
        return True

    async def close(self) -> None:
        """Close both connections (after the groups of writes already waiting)."""
        if self._groups:
            await asyncio.wait(self._groups)
        if self._reader is not None:
            await self._reader.close()
            self._reader = None
        await self.conn.close()


def _move_aside(path: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    for suffix in ("", "-wal", "-shm"):
        part = path.with_name(path.name + suffix)
        if part.exists():
            os.rename(part, target.with_name(target.name + suffix))
    return target


# Owner-only: the database holds other Plex users' tokens and the login sessions. SQLite gives
# the -wal and -shm files the mode of the database file, so they follow.
PRIVATE_MODE = 0o600


def _private_files(path: Path) -> None:
    """Create the database file 0600, and take group/other access away from an older one."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, PRIVATE_MODE))
    for name in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            if os.stat(name).st_mode & 0o077:
                os.chmod(name, PRIVATE_MODE)
        except FileNotFoundError:
            continue


async def _connect(path: Path) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, isolation_level=None)
    conn.row_factory = aiosqlite.Row
    try:
        await conn.execute("PRAGMA busy_timeout = 5000")
        await conn.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        await conn.close()
        raise
    return conn
