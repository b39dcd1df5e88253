"""Reads of `claims` (and `pins`) for the page: what is cached for whom, and what for no one.

A file counts once per holder however many of its claims that holder has; only media rows
count (`db.MEDIA_ROW`), each by its own bytes. The claim store (`claims.store`)
keeps the writes and the reads the planner and the reactor make.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from cacherr.db import MEDIA_ROW, Database


@dataclass(frozen=True)
class Share:
    """Media files on the cache claimed by one source or one user, and their bytes."""

    key: str  # the source, or the user's id
    name: str  # the user's display name (the source again for a source)
    files: int
    bytes: int


async def cached_by_source(db: Database) -> list[Share]:
    """Managed media files by the source of their claims, the most bytes first."""
    rows = await db.fetchall(
        "SELECT c.source, COUNT(DISTINCT m.id), COALESCE(SUM(m.size_bytes), 0) FROM"
        " (SELECT DISTINCT plex_path, source FROM claims) c"
        f" JOIN managed_files m ON m.plex_path = c.plex_path AND {MEDIA_ROW}"
        " GROUP BY c.source ORDER BY 3 DESC"
    )
    return [Share(str(r[0]), str(r[0]), int(r[1]), int(r[2])) for r in rows]


async def cached_by_user(db: Database, sources: Collection[str] | None = None) -> list[Share]:
    """Managed media files by the holder of their claims (of `sources`, when given), with
    the user's name, the most bytes first. With `sources`, claims without a holder are left
    out."""
    where, params = "", []
    if sources is not None:
        marks = ",".join("?" * len(sources))
        where, params = f" WHERE source IN ({marks}) AND user_id != ''", sorted(sources)
    rows = await db.fetchall(
        "SELECT c.user_id, COALESCE(NULLIF(u.username, ''), u.title, c.user_id),"
        " COUNT(DISTINCT m.id), COALESCE(SUM(m.size_bytes), 0) FROM"
        f" (SELECT DISTINCT plex_path, user_id FROM claims{where}) c"
        f" JOIN managed_files m ON m.plex_path = c.plex_path AND {MEDIA_ROW}"
        " LEFT JOIN users u ON u.id = c.user_id"
        " GROUP BY c.user_id ORDER BY 4 DESC",
        params,
    )
    return [Share(str(r[0]), str(r[1]), int(r[2]), int(r[3])) for r in rows]


async def unclaimed(db: Database) -> tuple[int, int]:
    """`(files, bytes)` of the managed media files no claim holds (in retention)."""
    row = await db.fetchone(
        "SELECT COUNT(*), COALESCE(SUM(m.size_bytes), 0) FROM managed_files m"
        f" WHERE {MEDIA_ROW} AND NOT EXISTS"
        " (SELECT 1 FROM claims c WHERE c.plex_path = m.plex_path)"
    )
    return (int(row[0]), int(row[1])) if row is not None else (0, 0)


async def claimed_paths(db: Database) -> int:
    """How many files at least one claim holds (managed or not)."""
    row = await db.fetchone("SELECT COUNT(DISTINCT plex_path) FROM claims")
    return int(row[0]) if row is not None else 0


async def pin_count(db: Database) -> int:
    """How many pins there are."""
    row = await db.fetchone("SELECT COUNT(*) FROM pins")
    return int(row[0]) if row is not None else 0
