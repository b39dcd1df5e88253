"""The operations journal and the managed-files records, as the on-disk protocol uses them.

Every write is a transaction of its own: a single statement through `Database.execute`
(which waits for any transaction in progress rather than joining it, and commits by itself
in one trip to the database thread), several through `Database.transaction()`. With
`synchronous = FULL` a committed step survives a power cut.

A file being copied already has its `managed_files` row, in state `caching`: that row holds
what recovery needs (the Plex path, the folders created for it) and reserves its size in
the space budget; it becomes `cached` in the same transaction that marks the journal done.
"""

from __future__ import annotations

import json
import posixpath
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import aiosqlite

from cacherr.db import Database
from cacherr.files.model import CACHED, CACHING, FileLocation, Kind
from cacherr.files.sidecars import belongs_to


@dataclass(frozen=True)
class OperationRow:
    """One row of `operations`."""

    id: int
    kind: Kind
    mapping: str
    rel_path: str
    array_path: Path
    cache_path: Path
    temp_path: Path | None
    step: str
    state: str
    size_bytes: int | None
    fingerprint: str | None
    error: str | None

    @classmethod
    def from_row(cls, row: aiosqlite.Row) -> OperationRow:
        """Build from a `SELECT *` row."""
        return cls(
            id=row["id"],
            kind=cast(Kind, row["kind"]),
            mapping=row["mapping"],
            rel_path=row["rel_path"],
            array_path=Path(row["array_path"]),
            cache_path=Path(row["cache_path"]),
            temp_path=Path(row["temp_path"]) if row["temp_path"] else None,
            step=row["step"],
            state=row["state"],
            size_bytes=row["size_bytes"],
            fingerprint=row["fingerprint"],
            error=row["error"],
        )


@dataclass(frozen=True)
class ManagedFile:
    """One row of `managed_files`; `created_dirs` are absolute cache folders."""

    id: int
    mapping: str
    rel_path: str
    plex_path: str
    rating_key: str | None
    state: str
    size_bytes: int
    mtime_ns: int
    fingerprint: str | None
    has_backup: bool
    created_dirs: list[str]
    adopted: bool
    parent_id: int | None = None  # the media file a sidecar was adopted with

    @classmethod
    def from_row(cls, row: aiosqlite.Row) -> ManagedFile:
        """Build from a `SELECT *` row."""
        return cls(
            id=row["id"],
            mapping=row["mapping"],
            rel_path=row["rel_path"],
            plex_path=row["plex_path"],
            rating_key=row["rating_key"],
            state=row["state"],
            size_bytes=row["size_bytes"],
            mtime_ns=row["mtime_ns"],
            fingerprint=row["fingerprint"],
            has_backup=bool(row["has_backup"]),
            created_dirs=list(json.loads(row["created_dirs"])),
            adopted=bool(row["adopted"]),
            parent_id=row["parent_id"],
        )


@dataclass(frozen=True)
class Budget:
    """Bytes managed (copies in flight included), bytes of copies in flight, their temps."""

    managed_bytes: int
    caching_bytes: int
    temp_paths: list[Path]


_STEP_FIELDS = {"temp_path", "size_bytes", "fingerprint", "bytes_done"}


class Journal:
    """Typed access to `operations` and `managed_files` for the protocol and recovery."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def _write(self, sql: str, params: tuple[Any, ...] | dict[str, Any]) -> int:
        return await self.db.execute(sql, params)

    async def begin(self, kind: Kind, loc: FileLocation, *, reason: str | None = None) -> int:
        """Journal a new operation (step `planned`, state `running`); returns its id."""
        now = time.time()
        return await self._write(
            "INSERT INTO operations (kind, mapping, rel_path, array_path, cache_path, step, "
            "reason, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'planned', ?, ?, ?)",
            (kind, loc.mapping.name, loc.rel, str(loc.array_path), str(loc.cache_path), reason,
             now, now),
        )  # fmt: skip

    async def step(self, op_id: int, step: str, **fields: Any) -> None:
        """Record that `step` is about to happen (with e.g. `temp_path`, `size_bytes`)."""
        unknown = set(fields) - _STEP_FIELDS
        if unknown:
            raise ValueError(f"not journal step fields: {sorted(unknown)}")
        values = {k: str(v) if isinstance(v, Path) else v for k, v in fields.items()}
        sets = "".join(f", {name} = :{name}" for name in values)
        await self._write(
            f"UPDATE operations SET step = :step, updated_at = :now{sets} WHERE id = :id",
            {"step": step, "now": time.time(), "id": op_id, **values},
        )

    async def finish(
        self, op_id: int, state: str, *, step: str | None = None, error: str | None = None
    ) -> None:
        """Close an operation as `done`, `failed`, `cancelled` or `rolled_back`."""
        async with self.db.transaction() as tx:
            await _finish(tx, op_id, state, step=step, error=error)

    async def get(self, op_id: int) -> OperationRow:
        """One operation by id."""
        row = await self.db.fetchone("SELECT * FROM operations WHERE id = ?", (op_id,))
        if row is None:
            raise LookupError(f"no operation {op_id}")
        return OperationRow.from_row(row)

    async def running(self) -> list[OperationRow]:
        """Operations that never finished (after a crash), oldest first."""
        rows = await self.db.fetchall(
            "SELECT * FROM operations WHERE state = 'running' ORDER BY id"
        )
        return [OperationRow.from_row(r) for r in rows]

    async def managed(self, mapping: str, rel: str) -> ManagedFile | None:
        """The managed-files row of one file, or None."""
        row = await self.db.fetchone(
            "SELECT * FROM managed_files WHERE mapping = ? AND rel_path = ?", (mapping, rel)
        )
        return ManagedFile.from_row(row) if row is not None else None

    async def in_folder(self, mapping: str, folder: str) -> list[ManagedFile]:
        """The managed files directly in `folder` (relative to the mapping's roots)."""
        low, high = (f"{folder}/", f"{folder}0") if folder else ("", "\U0010ffff")
        rows = await self.db.fetchall(
            "SELECT * FROM managed_files WHERE mapping = ? AND rel_path >= ? AND rel_path < ?",
            (mapping, low, high),
        )
        found = [ManagedFile.from_row(r) for r in rows]
        return [m for m in found if posixpath.dirname(m.rel_path) == folder]

    async def sidecars_of(self, mapping: str, rel: str) -> list[ManagedFile]:
        """The managed files that travel with the media file `rel` (its sidecars, by name)."""
        media = Path(posixpath.basename(rel))
        return [
            m
            for m in await self.in_folder(mapping, posixpath.dirname(rel))
            if belongs_to(media, Path(posixpath.basename(m.rel_path)), "all")
        ]

    async def budget(self, tx: Database | None = None) -> Budget:
        """What Cacherr holds on the pool and what its running copies still have to write."""
        db = tx or self.db
        row = await db.fetchone(
            "SELECT COALESCE(SUM(size_bytes), 0), "
            "COALESCE(SUM(CASE WHEN state = ? THEN size_bytes END), 0) FROM managed_files",
            (CACHING,),
        )
        temps = await db.fetchall(
            "SELECT temp_path FROM operations WHERE state = 'running' AND kind = 'cache' "
            "AND temp_path IS NOT NULL"
        )
        assert row is not None
        return Budget(int(row[0]), int(row[1]), [Path(t[0]) for t in temps])

    async def claim(
        self,
        loc: FileLocation,
        *,
        size_bytes: int,
        mtime_ns: int,
        rating_key: str | None,
        admit: Callable[[Budget], Awaitable[None]] | None = None,
    ) -> bool:
        """Create the file's row in state `caching`; False if the file is already managed.

        `admit` sees the budget inside the same transaction and may raise to refuse, so two
        copies checking the space at once cannot both take the last of it.
        """
        async with self.db.transaction() as tx:
            exists = await tx.fetchone(
                "SELECT 1 FROM managed_files WHERE mapping = ? AND rel_path = ?",
                (loc.mapping.name, loc.rel),
            )
            if exists is not None:
                return False
            if admit is not None:
                await admit(await self.budget(tx))
            await tx.execute(
                "INSERT INTO managed_files (mapping, rel_path, plex_path, rating_key, state, "
                "size_bytes, mtime_ns, cached_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (loc.mapping.name, loc.rel, loc.plex_path, rating_key, CACHING, size_bytes,
                 mtime_ns, time.time()),
            )  # fmt: skip
        return True

    async def note_error(self, op_id: int, error: str) -> None:
        """Record an error on an operation left running for start-up recovery to finish."""
        await self._write(
            "UPDATE operations SET error = ?, updated_at = ? WHERE id = ?",
            (error, time.time(), op_id),
        )

    async def set_created_dirs(self, mapping: str, rel: str, dirs: list[str]) -> None:
        """Record the cache folders this file's copy creates (before creating them)."""
        await self._write(
            "UPDATE managed_files SET created_dirs = ? WHERE mapping = ? AND rel_path = ?",
            (json.dumps(dirs), mapping, rel),
        )

    async def complete_cache(
        self, op_id: int, mapping: str, rel: str, *, size_bytes: int, mtime_ns: int,
        fingerprint: str,
    ) -> None:  # fmt: skip
        """The file serves from the cache: its row becomes `cached`, the operation `done`."""
        async with self.db.transaction() as tx:
            await tx.execute(
                "UPDATE managed_files SET state = ?, size_bytes = ?, mtime_ns = ?, "
                "fingerprint = ?, has_backup = 1, cached_at = ? WHERE mapping = ? AND rel_path = ?",
                (CACHED, size_bytes, mtime_ns, fingerprint, time.time(), mapping, rel),
            )
            await _finish(tx, op_id, "done")

    async def abandon_cache(
        self, op_id: int, mapping: str, rel: str, state: str, *, step: str | None = None,
        error: str | None = None,
    ) -> None:  # fmt: skip
        """A copy that did not happen: drop its `caching` row and close the operation."""
        async with self.db.transaction() as tx:
            await tx.execute(
                "DELETE FROM managed_files WHERE mapping = ? AND rel_path = ? AND state = ?",
                (mapping, rel, CACHING),
            )
            await _finish(tx, op_id, state, step=step, error=error)

    async def complete_restore(
        self, op_id: int, managed: ManagedFile, cache_root: Path, kept_dirs: list[str]
    ) -> None:
        """The file is back on the array: forget it, handing folders still in use to a sibling.

        A created folder that still holds another managed file becomes that file's to remove,
        so the last file out of a folder Cacherr made takes the folder with it.
        """
        async with self.db.transaction() as tx:
            await tx.execute("DELETE FROM managed_files WHERE id = ?", (managed.id,))
            for folder in kept_dirs:
                await _hand_over(tx, managed, folder, cache_root)
            await _finish(tx, op_id, "done")


async def _finish(
    tx: Database, op_id: int, state: str, *, step: str | None = None, error: str | None = None
) -> None:
    now = time.time()
    await tx.execute(
        "UPDATE operations SET state = ?, step = COALESCE(?, step), error = ?, updated_at = ?, "
        "finished_at = ? WHERE id = ?",
        (state, step, error, now, now, op_id),
    )


async def _hand_over(tx: Database, managed: ManagedFile, folder: str, cache_root: Path) -> None:
    prefix = Path(folder).relative_to(cache_root).as_posix() + "/"
    # substr, not LIKE: LIKE ignores case, and folder names differing in case are different.
    heir = await tx.fetchone(
        "SELECT id, created_dirs FROM managed_files WHERE mapping = ? AND id != ? "
        "AND substr(rel_path, 1, ?) = ? ORDER BY id LIMIT 1",
        (managed.mapping, managed.id, len(prefix), prefix),
    )
    if heir is None:
        return
    dirs = list(json.loads(heir["created_dirs"]))
    if folder not in dirs:
        dirs.append(folder)
        await tx.execute(
            "UPDATE managed_files SET created_dirs = ? WHERE id = ?", (json.dumps(dirs), heir["id"])
        )
