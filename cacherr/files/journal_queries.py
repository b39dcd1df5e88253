"""Reads of `operations` for the page: the journal's history, and the temp files in use.

The journal (`files.journal`) writes every row and reads what recovery and the executor
need; the page's filters and paging live here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import aiosqlite

from cacherr.db import Database

_HISTORY_COLUMNS: Final = (
    "id, kind, mapping, rel_path, step, state, size_bytes, bytes_done, reason, error,"
    " created_at, finished_at"
)


async def history(
    db: Database, *, state: str = "", kind: str = "", limit: int, offset: int
) -> tuple[int, list[aiosqlite.Row]]:
    """How many operations match `state` and `kind` (each when given), and one page of
    them, newest first."""
    where: list[str] = []
    params: list[object] = []
    if state:
        where.append("state = ?")
        params.append(state)
    if kind:
        where.append("kind = ?")
        params.append(kind)
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    total = await db.fetchone(f"SELECT COUNT(*) FROM operations{clause}", params)
    rows = await db.fetchall(
        f"SELECT {_HISTORY_COLUMNS} FROM operations{clause} ORDER BY id DESC LIMIT ? OFFSET ?",
        [*params, limit, offset],
    )
    return (int(total[0]) if total is not None else 0), rows


async def running_temp_paths(db: Database) -> list[Path]:
    """The temp files of the operations still running (not strays, whatever they look like)."""
    rows = await db.fetchall(
        "SELECT temp_path FROM operations WHERE state = 'running' AND temp_path IS NOT NULL"
    )
    return [Path(str(r[0])) for r in rows]
