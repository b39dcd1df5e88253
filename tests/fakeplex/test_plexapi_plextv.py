"""The real plexapi against the simulated plex.tv, discover and RSS hosts."""

from __future__ import annotations

import asyncio
from xml.etree import ElementTree as ET

import aiohttp
from plexapi.myplex import MyPlexAccount
from plexapi.server import PlexServer

from cacherr.fakeplex import FakePlexServer, Movie, World
from cacherr.plex.transport import PlexTransport


def _movie(world: World, title: str) -> Movie:
    return next(i for i in world.items.values() if isinstance(i, Movie) and i.title == title)


async def test_account_and_users(
    fake_plex: FakePlexServer, world: World, plextv: PlexTransport
) -> None:
    def check() -> None:
        account = MyPlexAccount(token=world.owner.token, session=plextv)
        # plex.tv knows the owner by their account id, not the server's 1 (Plex's webhook
        # support article: current payloads carry that id; plexapi's MyPlexAccount.id).
        assert (account.id, account.username) == (world.owner.account_id, "owner")
        assert world.owner.account_id != world.owner.id == 1
        assert account.subscriptionActive
        users = {u.title: u for u in account.users()}
        assert sorted(users) == ["alice", "bob", "carol"]
        assert users["alice"].home
        assert not users["bob"].home
        assert users["bob"].servers[0].machineIdentifier == world.machine_identifier
        assert users["bob"].get_token(world.machine_identifier) == world.user("bob").token

    await asyncio.to_thread(check)


async def test_withdrawn_shared_token(
    fake_plex: FakePlexServer, world: World, plextv: PlexTransport
) -> None:
    world.user("bob").shared_token_withdrawn = True

    def token() -> str | None:
        bob = MyPlexAccount(token=world.owner.token, session=plextv).user("bob")
        result: str | None = bob.get_token(world.machine_identifier)
        return result

    assert await asyncio.to_thread(token) is None


async def test_switch_home_user_token_works_on_pms(
    fake_plex: FakePlexServer, world: World, plextv: PlexTransport
) -> None:
    alice = world.user("alice")
    world.watch(alice, _movie(world, "Alien"))

    def check() -> None:
        account = MyPlexAccount(token=world.owner.token, session=plextv)
        switched = account.switchHomeUser("alice")
        assert switched.authToken == alice.token
        assert switched.title == "alice"
        plex = PlexServer(fake_plex.url, switched.authToken)
        alien = plex.library.section("Movies").get("Alien")
        assert alien.isPlayed

    await asyncio.to_thread(check)


async def test_watchlist_with_paging(
    fake_plex: FakePlexServer, world: World, plextv: PlexTransport
) -> None:
    heat = _movie(world, "Heat")
    dune = world.add_catalog_title("Dune: Part Three", "movie", 2026)
    world.add_to_watchlist(world.owner, heat)
    world.add_to_watchlist(world.owner, dune)

    def check() -> None:
        account = MyPlexAccount(token=world.owner.token, session=plextv)
        items = account.watchlist()
        assert [i.title for i in items] == ["Dune: Part Three", "Heat"]
        assert items[1].guid == heat.plex_guid
        assert [g.id for g in items[1].guids] == heat.guids
        assert [i.title for i in account.watchlist(maxresults=1)] == ["Dune: Part Three"]

    await asyncio.to_thread(check)
    assert fake_plex.counter.count("/library/sections/watchlist/{filter}", kind="discover") == 2


async def test_friends_watchlist_rss(fake_plex: FakePlexServer, world: World) -> None:
    bob, heat = world.user("bob"), _movie(world, "Heat")
    world.add_to_watchlist(bob, heat)
    world.add_to_watchlist(world.owner, _movie(world, "Alien"))
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{fake_plex.discover_url}/rss",
            headers={"X-Plex-Token": world.owner.token},
            json={"feedType": "friendsWatchlist"},
        ) as resp:
            url = (await resp.json())["RSSInfo"][0]["url"]
        assert url == fake_plex.rss_url("friends")
        async with http.get(url) as resp:
            assert resp.content_type == "application/rss+xml"
            root = ET.fromstring(await resp.read())
        async with http.get(url, params={"format": "json"}) as resp:
            as_json = await resp.json()
    items = root.findall("./channel/item")
    assert [i.findtext("title") for i in items] == ["Heat"]
    assert items[0].findtext("author") == str(bob.id)
    assert items[0].findtext("category") == "movie"
    assert [g.text for g in items[0].findall("guid")] == [*heat.guids, heat.plex_guid]
    assert as_json["items"][0]["guids"][0] == heat.guids[0]
