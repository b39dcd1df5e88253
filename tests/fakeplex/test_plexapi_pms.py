"""The real plexapi against the simulated PMS.

plexapi is synchronous and loads lazily on attribute access, so each test does its
plexapi work in a plain function run with ``asyncio.to_thread``: the server's loop
(the test's loop) must never block on it.
"""

from __future__ import annotations

import asyncio

import pytest
from plexapi.exceptions import Unauthorized
from plexapi.server import PlexServer

from cacherr.fakeplex import FakePlexServer, Movie, Show, World


def _show(world: World, title: str) -> Show:
    return next(i for i in world.items.values() if isinstance(i, Show) and i.title == title)


def _movie(world: World, title: str) -> Movie:
    return next(i for i in world.items.values() if isinstance(i, Movie) and i.title == title)


async def test_server_identity_and_sections(fake_plex: FakePlexServer, world: World) -> None:
    def check() -> None:
        plex = PlexServer(fake_plex.url, world.owner.token)
        assert plex.machineIdentifier == world.machine_identifier
        assert plex.friendlyName == world.server_name
        assert [(s.title, s.type) for s in plex.library.sections()] == [
            ("TV Shows", "show"),
            ("Movies", "movie"),
            ("Kids", "show"),
        ]
        assert [m.title for m in plex.library.section("Movies").all()] == ["Alien", "Heat"]
        assert len(plex.library.section("TV Shows").all(libtype="episode")) == 6
        assert [s.title for s in plex.library.section("TV Shows").all()] == ["The Expanse"]

    await asyncio.to_thread(check)


async def test_fetch_items_files_and_guids(fake_plex: FakePlexServer, world: World) -> None:
    heat, expanse = _movie(world, "Heat"), _show(world, "The Expanse")
    target = expanse.seasons[1].episodes[2]

    def check() -> None:
        plex = PlexServer(fake_plex.url, world.owner.token)
        movie = plex.fetchItem(heat.rating_key)
        assert movie.type == "movie"
        assert movie.year == 1995
        assert movie.media[0].parts[0].file == "/data/movies/Heat (1995)/Heat (1995).mkv"
        assert movie.media[0].parts[0].size == 256
        assert movie.media[0].videoResolution == "1080"
        assert movie.guid == heat.plex_guid
        assert [g.id for g in movie.guids] == heat.guids

        show = plex.fetchItem(expanse.rating_key)
        assert show.type == "show"
        assert show.title == "The Expanse"
        assert [s.index for s in show.seasons()] == [0, 1, 2]
        assert len(show.episodes()) == 6
        assert [g.id for g in show.guids] == expanse.guids
        season = plex.fetchItem(expanse.seasons[1].rating_key)
        assert season.type == "season"
        assert season.index == 1
        assert len(season.episodes()) == 3

        ep = plex.fetchItem(target.rating_key)
        assert (ep.grandparentTitle, ep.parentIndex, ep.index) == ("The Expanse", 1, 3)
        assert ep.media[0].parts[0].file.endswith("Season 01/The Expanse - S01E03.mkv")
        assert ep.grandparentRatingKey == expanse.rating_key
        assert {g.id.split("://")[0] for g in ep.guids} == {"imdb", "tmdb", "tvdb"}
        assert ep.show().title == "The Expanse"

    await asyncio.to_thread(check)


async def test_get_guid_lookup(fake_plex: FakePlexServer, world: World) -> None:
    heat = _movie(world, "Heat")

    def check() -> None:
        plex = PlexServer(fake_plex.url, world.owner.token)
        found = plex.library.section("Movies").getGuid(heat.plex_guid)
        assert found.ratingKey == heat.rating_key
        assert [r.title for r in plex.library.search(guid=heat.guids[0])] == ["Heat"]

    await asyncio.to_thread(check)


async def test_on_deck_per_token_and_hidden_library(
    fake_plex: FakePlexServer, world: World
) -> None:
    alice = world.user("alice")
    expanse, bluey = _show(world, "The Expanse"), _show(world, "Bluey")
    world.watch(alice, expanse.seasons[1].episodes[0])
    world.set_progress(alice, _movie(world, "Heat"), 120_000)
    world.watch(alice, bluey.seasons[0].episodes[0])
    first = expanse.seasons[1].episodes[0].rating_key

    def check() -> None:
        plex = PlexServer(fake_plex.url, alice.token)
        deck = plex.library.onDeck()
        assert sorted(i.title for i in deck) == ["Episode 2", "Heat"]
        assert next(i for i in deck if i.title == "Heat").viewOffset == 120_000
        kids = plex.library.section("Kids").onDeck()
        assert [(i.grandparentTitle, i.index) for i in kids] == [("Bluey", 2)]
        tv = plex.library.section("TV Shows").onDeck()
        assert [(i.grandparentTitle, i.index) for i in tv] == [("The Expanse", 2)]

        owner = PlexServer(fake_plex.url, world.owner.token)
        assert owner.library.onDeck() == []
        as_alice, as_owner = plex.fetchItem(first), owner.fetchItem(first)
        assert as_alice.viewCount == 1
        assert as_alice.isPlayed
        assert as_owner.viewCount == 0
        assert not as_owner.isPlayed

    await asyncio.to_thread(check)


async def test_restricted_friend_sees_only_shared_libraries(
    fake_plex: FakePlexServer, world: World
) -> None:
    def titles() -> list[str]:
        plex = PlexServer(fake_plex.url, world.user("carol").token)
        return [s.title for s in plex.library.sections()]

    assert await asyncio.to_thread(titles) == ["Movies"]


async def test_sessions_owner_only(fake_plex: FakePlexServer, world: World) -> None:
    bob = world.user("bob")
    ep = _show(world, "The Expanse").seasons[1].episodes[1]
    sess = world.start_session(bob, ep, offset_ms=30_000, player="Bedroom")
    plex = await asyncio.to_thread(PlexServer, fake_plex.url, world.owner.token)

    def first_session() -> tuple[int, int, list[str], str, str, str]:
        s = plex.sessions()[0]
        return (
            s.ratingKey,
            s.viewOffset,
            s.usernames,
            s.player.state,
            s.player.title,
            s.media[0].parts[0].file,
        )

    assert await asyncio.to_thread(first_session) == (
        ep.rating_key,
        30_000,
        ["bob"],
        "playing",
        "Bedroom",
        ep.media[0].parts[0].file,
    )
    world.pause_session(sess)
    world.progress_session(sess, 45_000)
    state = await asyncio.to_thread(first_session)
    assert (state[3], state[1]) == ("paused", 45_000)
    world.stop_session(sess)
    assert await asyncio.to_thread(plex.sessions) == []
    assert bob.state(ep.rating_key).view_offset_ms == 45_000

    as_bob = await asyncio.to_thread(PlexServer, fake_plex.url, bob.token)
    with pytest.raises(Unauthorized):
        await asyncio.to_thread(as_bob.sessions)


async def test_unknown_token_is_401(fake_plex: FakePlexServer) -> None:
    with pytest.raises(Unauthorized):
        await asyncio.to_thread(PlexServer, fake_plex.url, "not-a-token")


async def test_recently_added_lists_new_episode(fake_plex: FakePlexServer, world: World) -> None:
    new = world.add_episode(_show(world, "The Expanse"), 2, title="Fresh")

    def newest() -> tuple[int, str]:
        item = PlexServer(fake_plex.url, world.owner.token).library.recentlyAdded()[0]
        return item.ratingKey, item.title

    assert await asyncio.to_thread(newest) == (new.rating_key, "Fresh")
