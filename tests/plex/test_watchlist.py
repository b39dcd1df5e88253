"""Watchlists: plex.tv for main and home users, the RSS feed for friends, matched by guid."""

from __future__ import annotations

from typing import Any

from cacherr.fakeplex import FakePlexServer, Movie, Show, World
from cacherr.plex.gateway import PlexGateway
from cacherr.plex.library import Library
from cacherr.plex.users import UserDirectory
from cacherr.sources.watchlist import Watchlists, parse_rss, retired_feed_message

WATCHLIST = "/library/sections/watchlist/{filter}"
FEED = "/rss/{feed_id}/feed"
SECTION_ALL = "/library/sections/{id}/all"


def show(world: World, title: str) -> Show:
    return next(i for i in world.items.values() if isinstance(i, Show) and i.title == title)


def movie(world: World, title: str) -> Movie:
    return next(i for i in world.items.values() if isinstance(i, Movie) and i.title == title)


async def test_watchlists_of_every_kind_matched_by_guid(
    gateway: PlexGateway, users: UserDirectory, library: Library, world: World,
    fake: FakePlexServer, box: Any,
) -> None:  # fmt: skip
    alice, bob = world.user("alice"), world.user("bob")
    expanse, heat = show(world, "The Expanse"), movie(world, "Heat")
    world.add_to_watchlist(world.owner, heat)
    world.add_to_watchlist(world.owner, world.add_catalog_title("Dune", "movie", 2021))
    world.add_to_watchlist(alice, expanse)
    world.watch(alice, expanse.seasons[1].episodes[0])
    world.add_to_watchlist(bob, show(world, "Bluey"))
    # Same title as a local movie but another guid: never matched by title.
    world.add_to_watchlist(bob, world.add_catalog_title("Heat", "movie", 1995))
    box.patch("watchlist", episodes=2)

    result = await Watchlists(gateway, users, library, box).collect()

    got = {(e.username, e.title.title, e.source): e for e in result.entries}
    assert set(got) == {("owner", "Heat", "plextv"), ("alice", "The Expanse", "plextv"),
                        ("bob", "Bluey", "rss")}  # fmt: skip
    assert got["owner", "Heat", "plextv"].items[0].files == [m.parts[0].file for m in heat.media]
    alice_eps = got["alice", "The Expanse", "plextv"].items
    assert [(e.season, e.episode) for e in alice_eps] == [(1, 2), (1, 3)]  # her first unwatched
    bluey = got["bob", "Bluey", "rss"].items
    assert [(e.season, e.episode) for e in bluey] == [(1, 1), (1, 2)]
    assert sorted((user, t.title) for user, t in result.unmatched) == [
        ("bob", "Heat"),
        ("owner", "Dune"),
    ]
    assert not result.failed
    assert fake.counter.count(WATCHLIST, kind="discover") == 2  # owner and alice
    assert fake.counter.count(FEED, kind="discover") == 1  # after discover's redirect


async def test_shared_watchlists_off_by_default_and_rss_parsing(
    gateway: PlexGateway, users: UserDirectory, library: Library, world: World,
    fake: FakePlexServer, box: Any,
) -> None:  # fmt: skip
    box.patch("users", shared={"watchlist": False})
    world.add_to_watchlist(world.user("bob"), movie(world, "Alien"))
    result = await Watchlists(gateway, users, library, box).collect()
    assert result.entries == [] and fake.counter.count(FEED, kind="discover") == 0
    text = await gateway.fetch_text(fake.rss_url("friends"))
    [(author, title)] = parse_rss(text)
    assert author == world.user("bob").uuid and title.title == "Alien"
    assert movie(world, "Alien").plex_guid in title.guids and title.watchlisted_at


async def test_friends_feed_authors_by_uuid_and_a_retired_feed_url(
    gateway: PlexGateway, users: UserDirectory, library: Library, world: World,
    fake: FakePlexServer, box: Any,
) -> None:  # fmt: skip
    """Friends' feed in its 2026 shape (DOMAIN.md, from the Pulsarr and watchlistarr
    trackers): on the discover host, redirected, `<author>` = the friend's plex.tv UUID
    (the hex id of their avatar URL on /api/users); the retired rss.plex.tv URL answers 401."""
    world.add_to_watchlist(world.user("carol"), movie(world, "Alien"))
    result = await Watchlists(gateway, users, library, box).collect()
    assert [(e.username, e.title.title) for e in result.entries] == [("carol", "Alien")]
    box.patch("plex", friends_watchlist_rss=fake.retired_rss_url("friends"))
    result = await Watchlists(gateway, users, library, box).collect()
    why = result.failed["friends' watchlist RSS"]
    assert "no longer served" in why and "discover.provider.plex.tv" in why
    assert fake.retired_rss_url("friends") not in why  # the feed URL is a secret
    assert result.entries == []
    assert "retired rss.plex.tv" in retired_feed_message("https://rss.plex.tv/5a9c", "401")


async def test_big_sections_are_paged_and_a_slow_one_fails_alone(
    gateway: PlexGateway, users: UserDirectory, library: Library, world: World,
    fake: FakePlexServer, box: Any,
) -> None:  # fmt: skip
    """plexapi pages library listings by 100 (X_PLEX_CONTAINER_SIZE, X-Plex-Container-Start/
    -Size); a section slower than the timeout is left out without marking Plex down."""
    for i in range(230):
        world.add_movie(f"Film {i:03d}", year=1900 + i % 100, library="Big")
    world.add_to_watchlist(world.owner, movie(world, "Film 217"))
    world.add_to_watchlist(world.owner, show(world, "The Expanse"))
    box.patch("users", home={"watchlist": False}, shared={"watchlist": False})
    fake.counter.reset()
    result = await Watchlists(gateway, users, library, box).collect()
    assert {e.title.title for e in result.entries} == {"Film 217", "The Expanse"}
    assert fake.counter.count(SECTION_ALL) == 3 + 3  # three small sections, Big in 3 pages
    box.patch("plex", timeout_s=0.3, retries=0)
    world.library("Big").answer_delay_ms = 1000
    result = await Watchlists(gateway, users, library, box).collect()
    assert [e.title.title for e in result.entries] == ["The Expanse"]
    assert [t.title for _, t in result.unmatched] == ["Film 217"]
    assert gateway.status.state != "down"


METADATA_ITEM = "/library/metadata/{id}"
USER_STATE = "/library/metadata/{id}/userState"


async def test_discover_items_carry_only_the_plex_guid(
    gateway: PlexGateway, users: UserDirectory, library: Library, world: World,
    fake: FakePlexServer, box: Any, clock: Any,
) -> None:  # fmt: skip
    """Discover's watchlist items carry only guid="plex://…" and no watchlistedAt (DOMAIN.md
    2026; plexapi's watchlist docs: "search for the media using the guid"): the plex guid
    matches first; otherwise the metadata provider's item gives the external ids, and the
    user's userState the added-at date (plexapi MyPlexAccount.userState), each asked once."""
    heat, alien = movie(world, "Heat"), movie(world, "Alien")
    # Heat's local item was matched by a legacy agent: same imdb id, another plex guid.
    legacy = world.add_catalog_title("Heat", "movie", 1995, guids=list(heat.guids))
    world.clock = lambda: clock.now - 20 * 86_400
    world.add_to_watchlist(world.owner, legacy)
    world.clock = lambda: clock.now - 86_400
    world.add_to_watchlist(world.owner, alien)
    box.patch("users", home={"watchlist": False}, shared={"watchlist": False})
    watchlists = Watchlists(gateway, users, library, box)
    for _ in range(2):
        result = await watchlists.collect()
        got = {e.title.title: e for e in result.entries}
        assert set(got) == {"Heat", "Alien"} and not result.failed
        assert got["Heat"].items[0].rating_key == str(heat.rating_key)
        assert got["Alien"].title.watchlisted_at == clock.now - 86_400
        assert got["Heat"].title.watchlisted_at == clock.now - 20 * 86_400
    assert fake.counter.count(METADATA_ITEM, kind="metadata") == 1  # Heat only, once
    assert fake.counter.count(USER_STATE, kind="metadata") == 2  # each title once
