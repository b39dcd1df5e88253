"""Reads of `claims` (and `pins`) for the page: what is cached for whom, and what for no one;
and the status's counts at a glance.

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


# One statement, so one trip to the database's reader thread: under a load of copies each
# trip waits for that thread to get a core, and monitors poll the status.
_AT_A_GLANCE = (
    f"SELECT (SELECT COUNT(*) FROM managed_files m WHERE {MEDIA_ROW} AND m.state = 'cached'),"
    f" (SELECT COUNT(*) FROM managed_files m WHERE {MEDIA_ROW} AND m.state != 'cached'),"
    " (SELECT COUNT(DISTINCT plex_path) FROM claims),"
    " (SELECT COUNT(*) FROM users),"
    " (SELECT COUNT(*) FROM pins)"
)
_GLANCE_NAMES = ("files_cached", "files_in_flight", "files_claimed", "users", "pins")


async def at_a_glance(db: Database) -> dict[str, int]:
    """Media files cached and on their way, files claimed, users and pins, in one read."""
    row = await db.fetchone(_AT_A_GLANCE)
    values = row or (0,) * len(_GLANCE_NAMES)
    return dict(zip(_GLANCE_NAMES, (int(v) for v in values), strict=True))


class Glance:
    """`at_a_glance`, read again only once something was written since the last read: the
    status is asked for often (pages, dashboards polling it), and between two writes the
    counts cannot change. Each trip to the database thread waits for the event loop's turn
    and the thread's, which under load is most of the status's answer time."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._read: tuple[int, dict[str, int]] | None = None

    async def counts(self) -> dict[str, int]:
        """The counts as the last write left them."""
        writes = self._db.writes  # before the read: a write ending during it is seen next time
        if self._read is not None and self._read[0] == writes:
            return dict(self._read[1])
        counts = await at_a_glance(self._db)
        self._read = (writes, counts)
        return dict(counts)
