"""Plex's own library database for a simulated world (what `plex.database_path` opens).

The tables and columns Cacherr reads, named as in Plex's `com.plexapp.plugins.library.db`
(accounts, metadata_items, metadata_item_settings, media_items, media_parts). Since
2026-03 this is where an invited (shared) user's on-deck is read from.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from .model import Episode, Movie, Show
from .world import World

PLEX_SCHEMA = """
CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT, hashed_password TEXT, salt TEXT,
    created_at INTEGER, updated_at INTEGER, default_audio_language TEXT,
    default_subtitle_language TEXT, auto_select_subtitle INTEGER, auto_select_audio INTEGER);
CREATE TABLE metadata_items (id INTEGER PRIMARY KEY, library_section_id INTEGER,
    parent_id INTEGER, metadata_type INTEGER, guid TEXT, media_item_count INTEGER,
    title TEXT, title_sort TEXT, original_title TEXT, studio TEXT, rating FLOAT,
    "index" INTEGER, duration INTEGER, year INTEGER, added_at INTEGER, updated_at INTEGER,
    deleted_at INTEGER);
CREATE TABLE metadata_item_settings (id INTEGER PRIMARY KEY, account_id INTEGER, guid TEXT,
    rating FLOAT, view_offset INTEGER, view_count INTEGER, last_viewed_at INTEGER,
    created_at INTEGER, updated_at INTEGER, skip_count INTEGER, last_skipped_at INTEGER,
    changed_at INTEGER);
CREATE TABLE media_items (id INTEGER PRIMARY KEY, library_section_id INTEGER,
    section_location_id INTEGER, metadata_item_id INTEGER, type_id INTEGER, width INTEGER,
    height INTEGER, size INTEGER, duration INTEGER, bitrate INTEGER, container TEXT,
    video_codec TEXT, audio_codec TEXT, created_at INTEGER, updated_at INTEGER,
    deleted_at INTEGER);
CREATE TABLE media_parts (id INTEGER PRIMARY KEY, media_item_id INTEGER, directory_id INTEGER,
    hash TEXT, open_subtitle_hash TEXT, file TEXT, "index" INTEGER, size INTEGER,
    duration INTEGER, created_at INTEGER, updated_at INTEGER, deleted_at INTEGER);
"""


def write_plex_database(world: World, path: Path | str) -> None:
    """Write Plex's library database for the world, with the columns Plex really has."""
    conn = sqlite3.connect(path)
    conn.executescript(PLEX_SCHEMA)
    conn.executemany("INSERT INTO accounts (id, name) VALUES (?, ?)",
                     [(u.id, u.title) for u in world.users])  # fmt: skip
    media_id = 0

    def item(row: tuple[Any, ...], playable: Movie | Episode | None) -> None:
        nonlocal media_id
        conn.execute(
            "INSERT INTO metadata_items (id, library_section_id, parent_id, metadata_type,"
            ' guid, title, "index", duration) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
            row,
        )
        for media in playable.media if playable else []:
            media_id += 1
            width = 3840 if media.video_resolution == "4k" else 1920
            conn.execute(
                "INSERT INTO media_items (id, library_section_id, metadata_item_id, width)"
                " VALUES (?, ?, ?, ?)",
                (media_id, row[1], row[0], width),
            )
            for i, part in enumerate(media.parts):
                conn.execute(
                    'INSERT INTO media_parts (media_item_id, file, "index", size)'
                    " VALUES (?, ?, ?, ?)",
                    (media_id, part.file, i, part.size),
                )

    for it in list(world.items.values()):
        if isinstance(it, Movie):
            item((it.rating_key, it.library.id, None, 1, it.plex_guid, it.title, None,
                  it.duration_ms), it)  # fmt: skip
        elif isinstance(it, Show):
            item((it.rating_key, it.library.id, None, 2, it.plex_guid, it.title, None, None), None)
            for season in it.seasons:
                item((season.rating_key, it.library.id, it.rating_key, 3, season.plex_guid,
                      season.title, season.index, None), None)  # fmt: skip
                for ep in season.episodes:
                    item((ep.rating_key, it.library.id, season.rating_key, 4, ep.plex_guid,
                          ep.title, ep.index, ep.duration_ms), ep)  # fmt: skip
    for user in world.users:
        for rk, st in user.states.items():
            guid = world.items[rk].plex_guid
            conn.execute(
                "INSERT INTO metadata_item_settings (account_id, guid, view_offset, view_count,"
                " last_viewed_at) VALUES (?, ?, ?, ?, ?)",
                (user.id, guid, st.view_offset_ms, st.view_count, st.last_viewed_at),
            )
    conn.commit()
    conn.close()
