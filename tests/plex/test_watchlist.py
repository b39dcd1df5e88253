"""Watchlists: plex.tv for main and home users, the RSS feed for friends, matched by guid."""

from __future__ import annotations

from typing import Any

from cacherr.fakeplex import FakePlexServer, Movie, Show, World
from cacherr.plex.gateway import PlexGateway
from cacherr.plex.library import Library
from cacherr.plex.users import UserDirectory
from cacherr.sources.watchlist import Watchlists, parse_rss

WATCHLIST = "/library/sections/watchlist/{filter}"


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
    assert fake.counter.total(kind="rss") == 1


async def test_shared_watchlists_off_by_default_and_rss_parsing(
    gateway: PlexGateway, users: UserDirectory, library: Library, world: World,
    fake: FakePlexServer, box: Any,
) -> None:  # fmt: skip
    box.patch("users", shared={"watchlist": False})
    world.add_to_watchlist(world.user("bob"), movie(world, "Alien"))
    result = await Watchlists(gateway, users, library, box).collect()
    assert result.entries == [] and fake.counter.total(kind="rss") == 0
    text = await gateway.fetch_text(fake.rss_url("friends"))
    [(author, title)] = parse_rss(text)
    assert author == str(world.user("bob").id) and title.title == "Alien"
    assert movie(world, "Alien").plex_guid in title.guids and title.watchlisted_at
