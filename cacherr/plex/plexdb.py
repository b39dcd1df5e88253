"""A read-only look into Plex's own database, for the on-deck of users without a token.

Plex has been withdrawing shared users' tokens; the field's fallback is to read
`com.plexapp.plugins.library.db` directly. It is opened with `mode=ro` (SQLite URI) and
never written. Plex's schema: `metadata_items` (type 1 movie, 2 show, 3 season,
4 episode; `parent_id` links episode → season → show), `metadata_item_settings` (per
`account_id` and item `guid`: `view_offset`, `view_count`, `last_viewed_at`),
`media_items` and `media_parts` (the files). Calls block: run them off the event loop.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from cacherr.config.models import PlexConfig
from cacherr.plex.library import ItemRef, show_order

MOVIE, SHOW, SEASON, EPISODE = 1, 2, 3, 4
_ShowInfo = tuple[int, str, int]  # show id, show title, season number


@dataclass
class _Row:
    id: int
    type: int
    title: str
    index: int
    duration: int
    section: int
    parent: int | None
    offset: int = 0
    count: int = 0
    viewed: float | None = None


def resolution_of(width: int | None) -> str:
    """Plex's videoResolution label for a frame width."""
    if not width:
        return ""
    if width >= 3200:
        return "4k"
    if width >= 1700:
        return "1080"
    if width >= 1100:
        return "720"
    return "sd"


class PlexDatabase:
    """Plex's library database, opened read-only for each read."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        uri = f"file:{quote(str(self.path))}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, timeout=5)
        try:
            yield conn
        finally:
            conn.close()

    def on_deck(
        self, account_id: int, cfg: PlexConfig, section_ids: set[int] | None = None
    ) -> list[ItemRef]:
        """In-progress movies and episodes, and the next episode after the last watched one
        of every started show, most recent activity first."""
        with self._connect() as conn:
            states = self._states(conn, account_id, section_ids)
            movies = [r for r in states if r.type == MOVIE and r.offset > 0]
            episodes = [r for r in states if r.type == EPISODE]
            picks = movies + self._next_up(conn, episodes, account_id, cfg)
            picks.sort(key=lambda r: -(r.viewed or 0))
            files = self._files(conn, [r.id for r in picks], cfg)
            shows = self._show_info(conn, [r for r in picks if r.type == EPISODE])
        return [self._ref(r, files.get(r.id, []), shows.get(r.id)) for r in picks]

    def _states(
        self, conn: sqlite3.Connection, account_id: int, section_ids: set[int] | None
    ) -> list[_Row]:
        rows = conn.execute(
            'SELECT mi.id, mi.metadata_type, mi.title, mi."index", mi.duration,'
            " mi.library_section_id, mi.parent_id, s.view_offset, s.view_count,"
            " s.last_viewed_at FROM metadata_item_settings s"
            " JOIN metadata_items mi ON mi.guid = s.guid"
            " WHERE s.account_id = ? AND mi.metadata_type IN (1, 4)",
            (account_id,),
        ).fetchall()
        out = [_Row(r[0], r[1], r[2] or "", r[3] or 0, r[4] or 0, r[5], r[6], r[7] or 0,
                    r[8] or 0, float(r[9]) if r[9] else None) for r in rows]  # fmt: skip
        return [r for r in out if section_ids is None or r.section in section_ids]

    def _next_up(
        self, conn: sqlite3.Connection, started: list[_Row], account_id: int, cfg: PlexConfig
    ) -> list[_Row]:
        by_show: dict[int, list[_Row]] = {}
        for row in started:
            show = self._show_id(conn, row)
            if show is not None:
                by_show.setdefault(show, []).append(row)
        picks = []
        for show, rows in by_show.items():
            latest = max(rows, key=lambda r: r.viewed or 0)
            if latest.offset > 0:
                picks.append(latest)
                continue
            order = self._episodes(conn, show, account_id, cfg)
            keys = [r.id for r in order]
            if latest.id not in keys:
                continue
            following = order[keys.index(latest.id) + 1 :]
            nxt = next((r for r in following if not (r.count > 0 and r.offset == 0)), None)
            if nxt is not None:
                nxt.viewed = latest.viewed
                picks.append(nxt)
        return picks

    @staticmethod
    def _show_id(conn: sqlite3.Connection, episode: _Row) -> int | None:
        row = conn.execute(
            "SELECT parent_id FROM metadata_items WHERE id = ?", (episode.parent,)
        ).fetchone()
        return int(row[0]) if row and row[0] is not None else None

    def _episodes(
        self, conn: sqlite3.Connection, show_id: int, account_id: int, cfg: PlexConfig
    ) -> list[_Row]:
        rows = conn.execute(
            'SELECT e.id, e.title, e."index", e.duration, e.library_section_id, e.parent_id,'
            ' se."index", s.view_offset, s.view_count, s.last_viewed_at'
            " FROM metadata_items e JOIN metadata_items se ON se.id = e.parent_id"
            " LEFT JOIN metadata_item_settings s ON s.guid = e.guid AND s.account_id = ?"
            " WHERE se.parent_id = ? AND e.metadata_type = 4",
            (account_id, show_id),
        ).fetchall()
        refs = {r[0]: ItemRef(str(r[0]), "episode", r[1] or "", season=r[6] or 0,
                              episode=r[2] or 0) for r in rows}  # fmt: skip
        ordered = show_order(refs.values(), cfg.include_specials)
        raw = {r[0]: r for r in rows}
        out = []
        for ref in ordered:
            r = raw[int(ref.rating_key)]
            out.append(_Row(r[0], EPISODE, r[1] or "", r[2] or 0, r[3] or 0, r[4], r[5],
                            r[7] or 0, r[8] or 0, float(r[9]) if r[9] else None))  # fmt: skip
        return out

    @staticmethod
    def _files(conn: sqlite3.Connection, ids: list[int], cfg: PlexConfig) -> dict[int, list[str]]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = conn.execute(
            "SELECT m.metadata_item_id, m.id, m.width, p.file FROM media_items m"
            " JOIN media_parts p ON p.media_item_id = m.id"
            f" WHERE m.metadata_item_id IN ({marks}) AND m.deleted_at IS NULL"
            ' AND p.deleted_at IS NULL ORDER BY m.metadata_item_id, m.id, p."index"',
            ids,
        ).fetchall()
        media: dict[int, dict[int, tuple[str, list[str]]]] = {}
        for item_id, media_id, width, file in rows:
            entry = media.setdefault(item_id, {}).setdefault(media_id, (resolution_of(width), []))
            entry[1].append(file)
        out: dict[int, list[str]] = {}
        for item_id, versions in media.items():
            chosen = list(versions.values())
            if cfg.versions == "preferred" and len(chosen) > 1:
                wanted = cfg.preferred_resolution.lower()
                chosen = [v for v in chosen if v[0] == wanted] or chosen[:1]
            out[item_id] = [f for _, files in chosen for f in files]
        return out

    @staticmethod
    def _show_info(
        conn: sqlite3.Connection, episodes: list[_Row]
    ) -> dict[int, tuple[int, str, int]]:
        out = {}
        for ep in episodes:
            row = conn.execute(
                'SELECT sh.id, sh.title, se."index" FROM metadata_items se'
                " JOIN metadata_items sh ON sh.id = se.parent_id WHERE se.id = ?",
                (ep.parent,),
            ).fetchone()
            if row:
                out[ep.id] = (int(row[0]), str(row[1] or ""), int(row[2] or 0))
        return out

    @staticmethod
    def _ref(row: _Row, files: list[str], show: _ShowInfo | None) -> ItemRef:
        is_episode = row.type == EPISODE
        return ItemRef(
            rating_key=str(row.id),
            type="episode" if is_episode else "movie",
            title=row.title,
            show_key=str(show[0]) if show else None,
            show_title=show[1] if show else None,
            season=show[2] if show else None,
            episode=row.index if is_episode else None,
            duration_ms=row.duration,
            files=files,
            section_id=row.section,
            view_count=row.count,
            view_offset_ms=row.offset,
            last_viewed_at=row.viewed,
        )
