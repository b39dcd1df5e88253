"""On-deck per user and section (hidden libraries too), and Plex's database for tokenless users."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from cacherr.fakeplex import Episode, FakePlexServer, Movie, Show, World
from cacherr.plex.gateway import PlexGateway
from cacherr.plex.library import Library
from cacherr.plex.users import UserDirectory
from cacherr.sources.ondeck import OnDeck

DAY = 86_400
SECTION_DECK = "/library/sections/{id}/onDeck"

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


def show(world: World, title: str) -> Show:
    return next(i for i in world.items.values() if isinstance(i, Show) and i.title == title)


def movie(world: World, title: str) -> Movie:
    return next(i for i in world.items.values() if isinstance(i, Movie) and i.title == title)


def write_plex_database(world: World, path: Path) -> None:
    """Plex's library database for the world, with the columns Plex really has."""
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


def make_ondeck(gateway: PlexGateway, users: UserDirectory, library: Library, box: Any,
                clock: Any) -> OnDeck:  # fmt: skip
    return OnDeck(gateway, users, library, box, clock=clock)


async def test_ondeck_per_user_includes_hidden_libraries(
    gateway: PlexGateway, users: UserDirectory, library: Library, world: World,
    fake: FakePlexServer, box: Any, clock: Any,
) -> None:  # fmt: skip
    world.clock = lambda: clock.now - 60
    alice, bob = world.user("alice"), world.user("bob")
    expanse, bluey = show(world, "The Expanse"), show(world, "Bluey")
    world.watch(alice, expanse.seasons[1].episodes[2])
    world.watch(alice, bluey.seasons[0].episodes[0])  # Kids is hidden from Home
    world.set_progress(bob, movie(world, "Heat"), 60_000)
    result = await make_ondeck(gateway, users, library, box, clock).collect()
    got = {(e.username, e.item.title, e.item.season, e.item.episode) for e in result.entries}
    assert got == {
        ("alice", "Episode 1", 2, 1),
        ("alice", "Episode 2", 1, 2),
        ("bob", "Heat", None, None),
    }
    heat = next(e for e in result.entries if e.username == "bob")
    assert heat.item.view_offset_ms == 60_000 and heat.last_viewed_at == clock.now - 60
    assert heat.item.files == [m.parts[0].file for m in movie(world, "Heat").media]
    assert "dave" in result.skipped and not result.failed  # no token, no database
    # carol sees only Movies: the other sections answer 404 and are skipped quietly.
    assert fake.counter.count(SECTION_DECK) == 3 * 4
    user = next(u for u in await users.all() if u.name == "bob")
    assert user.last_active_at == clock.now - 60


async def test_days_to_monitor_and_sections_filter(
    gateway: PlexGateway, users: UserDirectory, library: Library, world: World, box: Any,
    clock: Any,
) -> None:  # fmt: skip
    # Resume points carry lastViewedAt; a next-up episode (never played) has none and
    # stays (Plex's own on-deck window already bounds it).
    alice = world.user("alice")
    world.clock = lambda: clock.now - 40 * DAY
    world.set_progress(alice, show(world, "The Expanse").seasons[1].episodes[0], 1000)
    world.clock = lambda: clock.now - DAY
    world.set_progress(alice, show(world, "Bluey").seasons[0].episodes[0], 1000)
    ondeck = make_ondeck(gateway, users, library, box, clock)
    titles = {e.item.show_title for e in (await ondeck.collect()).entries}
    assert titles == {"Bluey"}  # The Expanse was last touched 40 days ago (> 30)
    box.patch("users", home={"days_to_monitor": 0})
    assert {e.item.show_title for e in (await ondeck.collect()).entries} == {"Bluey", "The Expanse"}
    box.patch("plex", sections=["TV Shows"])
    assert {e.item.show_title for e in (await ondeck.collect()).entries} == {"The Expanse"}


async def test_tokenless_user_read_from_plex_database(
    gateway: PlexGateway, users: UserDirectory, library: Library, world: World, box: Any,
    clock: Any, tmp_path: Path,
) -> None:  # fmt: skip
    dave = world.user("dave")
    expanse = show(world, "The Expanse")
    world.clock = lambda: clock.now - 3600
    world.watch(dave, expanse.seasons[1].episodes[2])
    world.clock = lambda: clock.now - 60
    world.set_progress(dave, movie(world, "Alien"), 5_000)
    path = tmp_path / "com.plexapp.plugins.library.db"
    write_plex_database(world, path)
    before = path.read_bytes()
    box.patch("plex", database_path=str(path))
    result = await make_ondeck(gateway, users, library, box, clock).collect()
    mine = [e for e in result.entries if e.username == "dave"]
    assert [(e.item.title, e.item.season, e.item.episode, e.source) for e in mine] == [
        ("Alien", None, None, "plex_database"),
        ("Episode 1", 2, 1, "plex_database"),
    ]
    assert mine[1].item.show_key == str(expanse.rating_key)
    assert mine[1].item.files == [expanse.seasons[2].episodes[0].media[0].parts[0].file]
    assert mine[0].item.view_offset_ms == 5_000
    assert path.read_bytes() == before  # opened read-only, never written
