"""Reads of `managed_files`: what the page, the metrics and the planner count and list.

A managed row is either a media file (a movie or an episode part) or a sidecar of one (a
subtitle, artwork) whose `parent_id` names its media row; what a *media row* is and a media
file's *size with sidecars* are defined once, beside the schema (`db.MEDIA_ROW`,
`db.SIZE_WITH_SIDECARS`). Writes belong to the journal (`files.journal`) and the claim
store; the queries that join claims sit in `claims.queries`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import aiosqlite

from cacherr.db import MEDIA_ROW, SIZE_WITH_SIDECARS, Database

_SIDECAR_COUNT: Final = "(SELECT COUNT(*) FROM managed_files k WHERE k.parent_id = m.id)"
_MEDIA_COLUMNS: Final = (
    "m.id, m.mapping, m.rel_path, m.plex_path, m.rating_key, m.state, m.cached_at,"
    f" m.released_at, m.adopted, {SIZE_WITH_SIDECARS} AS size, {_SIDECAR_COUNT} AS sidecars"
)


@dataclass(frozen=True)
class Footprint:
    """Cacherr's rows in `managed_files`, copies in flight included."""

    rows: int  # every managed row, sidecars included
    bytes: int  # their bytes
    media_cached: int  # media rows whose copy is done
    media_in_flight: int  # media rows being copied or restored


async def footprint(db: Database) -> Footprint:
    """The counts and bytes of every managed row, in one read."""
    row = await db.fetchone(
        "SELECT COUNT(*), COALESCE(SUM(size_bytes), 0),"
        f" COALESCE(SUM({MEDIA_ROW} AND m.state = 'cached'), 0),"
        f" COALESCE(SUM({MEDIA_ROW} AND m.state != 'cached'), 0) FROM managed_files m"
    )
    if row is None:
        return Footprint(0, 0, 0, 0)
    return Footprint(*(int(v) for v in row))


async def media_files(db: Database) -> list[aiosqlite.Row]:
    """Every media row with its size with sidecars (`size`) and sidecar count (`sidecars`)."""
    return await db.fetchall(f"SELECT {_MEDIA_COLUMNS} FROM managed_files m WHERE {MEDIA_ROW}")


async def media_file(db: Database, plex_path: str) -> aiosqlite.Row | None:
    """The media row of one Plex path, as `media_files` gives it, if managed."""
    return await db.fetchone(
        f"SELECT {_MEDIA_COLUMNS} FROM managed_files m WHERE m.plex_path = ? AND {MEDIA_ROW}",
        (plex_path,),
    )


async def cached_media(db: Database) -> list[tuple[str, str]]:
    """`(mapping, rel_path)` of every media file whose copy is done."""
    rows = await db.fetchall(
        f"SELECT m.mapping, m.rel_path FROM managed_files m WHERE {MEDIA_ROW}"
        " AND m.state = 'cached'"
    )
    return [(str(r[0]), str(r[1])) for r in rows]


async def cached_media_paths(db: Database) -> set[str]:
    """The Plex paths of the media files whose copy is done."""
    rows = await db.fetchall(
        f"SELECT DISTINCT m.plex_path FROM managed_files m WHERE {MEDIA_ROW} AND m.state = 'cached'"
    )
    return {str(r[0]) for r in rows}
