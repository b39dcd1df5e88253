"""A batch's journal writes: the rows of many files per statement, inside one transaction.

The same rows `journal` writes one file at a time (same columns, same states), so recovery
and the page read a batch's operations like any other. Each call runs one statement for all
rows (`executemany`): a batch's commit costs a few trips to the database thread, not a few
per file. The caller holds the transaction (`Database.transaction()`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cacherr.db import Database
from cacherr.files.model import CACHED, CACHING, FileLocation

# Bound parameters per statement stay well under SQLite's limit (32 766 since 3.32).
_IN_CHUNK = 500


@dataclass(frozen=True)
class NewOperation:
    """One `operations` row, written whole: `running` at `step`, or already closed."""

    id: int
    loc: FileLocation
    reason: str | None
    step: str
    state: str = "running"
    temp_path: Path | None = None
    size_bytes: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class NewCaching:
    """One `managed_files` row in state `caching` (it reserves its size in the budget)."""

    loc: FileLocation
    size_bytes: int
    mtime_ns: int
    rating_key: str | None
    created_dirs: list[str]


async def next_operation_id(tx: Database) -> int:
    """The id SQLite would give the next operation (the write lock is held: nobody else
    inserts until the commit), so a batch knows its ids, and so its temp names, at once."""
    row = await tx.fetchone("SELECT COALESCE(MAX(id), 0) + 1 FROM operations")
    assert row is not None
    return int(row[0])


async def managed_among(tx: Database, mapping: str, rels: Sequence[str]) -> set[str]:
    """Which of `rels` (of `mapping`) have a managed-files row, in any state."""
    found: set[str] = set()
    for start in range(0, len(rels), _IN_CHUNK):
        chunk = rels[start : start + _IN_CHUNK]
        marks = ", ".join("?" * len(chunk))
        rows = await tx.fetchall(
            f"SELECT rel_path FROM managed_files WHERE mapping = ? AND rel_path IN ({marks})",
            (mapping, *chunk),
        )
        found.update(r[0] for r in rows)
    return found


async def insert_operations(tx: Database, ops: Iterable[NewOperation]) -> None:
    """Write each operation's row (a closed one with its `finished_at`)."""
    now = time.time()
    await tx.executemany(
        "INSERT INTO operations (id, kind, mapping, rel_path, array_path, cache_path, "
        "temp_path, step, state, size_bytes, reason, error, created_at, updated_at, "
        "finished_at) VALUES (?, 'cache', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (op.id, op.loc.mapping.name, op.loc.rel, str(op.loc.array_path),
             str(op.loc.cache_path), str(op.temp_path) if op.temp_path else None, op.step,
             op.state, op.size_bytes, op.reason, op.error, now, now,
             None if op.state == "running" else now)
            for op in ops
        ],
    )  # fmt: skip


async def insert_caching(tx: Database, rows: Iterable[NewCaching]) -> None:
    """Each file's `caching` row, with the folders its copy may create."""
    now = time.time()
    await tx.executemany(
        "INSERT INTO managed_files (mapping, rel_path, plex_path, rating_key, state, "
        "size_bytes, mtime_ns, created_dirs, cached_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (r.loc.mapping.name, r.loc.rel, r.loc.plex_path, r.rating_key, CACHING,
             r.size_bytes, r.mtime_ns, json.dumps(r.created_dirs), now)
            for r in rows
        ],
    )  # fmt: skip


async def record_created_dirs(tx: Database, rows: Iterable[tuple[FileLocation, list[str]]]) -> None:
    """The folders each copy really created (another may have made one first)."""
    await tx.executemany(
        "UPDATE managed_files SET created_dirs = ? WHERE mapping = ? AND rel_path = ?",
        [(json.dumps(dirs), loc.mapping.name, loc.rel) for loc, dirs in rows],
    )


async def set_steps(
    tx: Database, step: str, rows: Iterable[tuple[int, str | None, int | None]]
) -> None:
    """Each (operation, fingerprint, bytes done) is about to take `step` (a None keeps the
    column as it was)."""
    now = time.time()
    await tx.executemany(
        "UPDATE operations SET step = ?, updated_at = ?, fingerprint = COALESCE(?, fingerprint), "
        "bytes_done = COALESCE(?, bytes_done) WHERE id = ?",
        [(step, now, fingerprint, done, op_id) for op_id, fingerprint, done in rows],
    )


async def mark_cached(
    tx: Database, rows: Iterable[tuple[int, FileLocation, int, int, str]]
) -> None:
    """Each (operation, file, size, mtime, fingerprint): the row `cached`, the operation
    `done`."""
    now = time.time()
    rows = list(rows)
    await tx.executemany(
        "UPDATE managed_files SET state = ?, size_bytes = ?, mtime_ns = ?, fingerprint = ?, "
        "has_backup = 1, cached_at = ? WHERE mapping = ? AND rel_path = ?",
        [(CACHED, size, mtime, fp, now, loc.mapping.name, loc.rel)
         for _, loc, size, mtime, fp in rows],
    )  # fmt: skip
    await tx.executemany(
        "UPDATE operations SET state = 'done', error = NULL, updated_at = ?, finished_at = ? "
        "WHERE id = ?",
        [(now, now, op_id) for op_id, *_ in rows],
    )
