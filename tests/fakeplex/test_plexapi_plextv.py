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
        # Since 2026-03 plex.tv gives no server token for invited users.
        assert users["bob"].get_token(world.machine_identifier) is None

    await asyncio.to_thread(check)


async def test_friends_without_access_are_listed_without_our_server(
    fake_plex: FakePlexServer, world: World, plextv: PlexTransport
) -> None:
    """plex.tv's /api/users lists every friend, also those who have no share of this server
    (adamgot/python-plexlibrary#92: "a Plex Friend that does not have access to your server";
    its fix looks for the machine identifier in the friend's servers)."""
    world.add_user("zoe", kind="shared", shares_server=False)

    def shares() -> dict[str, list[str]]:
        account = MyPlexAccount(token=world.owner.token, session=plextv)
        return {u.title: [s.machineIdentifier for s in u.servers] for u in account.users()}

    found = await asyncio.to_thread(shares)
    assert found["zoe"] == [] and found["bob"] == [world.machine_identifier]


async def test_shared_token_in_the_legacy_shape(
    fake_plex: FakePlexServer, world: World, plextv: PlexTransport
) -> None:
    """Before 2026-03 shared_servers carried each friend's accessToken (plexapi
    MyPlexUser.get_token); the JellyPlex-Watched tracker (#341, 2026-03) reports it gone."""
    world.shared_tokens = True
    bob = world.user("bob")

    def token() -> str | None:
        result: str | None = (
            MyPlexAccount(token=world.owner.token, session=plextv)
            .user("bob")
            .get_token(world.machine_identifier)
        )
        return result

    assert await asyncio.to_thread(token) == bob.token
    bob.shared_token_withdrawn = True

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
    """Discover's watchlist as in 2026 (DOMAIN.md, from the Pulsarr and watchstate trackers):
    pages of 20, items with only guid="plex://…"; external ids come from the metadata
    provider's item, the added-at date from its userState (plexapi MyPlexAccount.userState)."""
    heat = _movie(world, "Heat")
    dune = world.add_catalog_title("Dune: Part Three", "movie", 2026)
    world.add_to_watchlist(world.owner, heat)
    world.add_to_watchlist(world.owner, dune)
    for i in range(25):
        world.add_to_watchlist(world.owner, world.add_catalog_title(f"Old {i}", "movie", 1990))

    def check() -> None:
        account = MyPlexAccount(token=world.owner.token, session=plextv)
        items = account.watchlist()
        assert len(items) == 27 and [i.title for i in items][-2:] == ["Dune: Part Three", "Heat"]
        assert items[-1].guid == heat.plex_guid and not items[-1]._data.findall("Guid")
        full = account.fetchItem(f"{account.METADATA}{items[-1].key}")
        assert [g.id for g in full.guids] == heat.guids
        state = account.userState(items[-1])
        assert state.watchlistedAt is not None
        assert [i.title for i in account.watchlist(maxresults=1)] == ["Old 24"]

    await asyncio.to_thread(check)
    assert fake_plex.counter.count("/library/sections/watchlist/{filter}", kind="discover") == 2
    async with aiohttp.ClientSession() as http:
        url = f"{fake_plex.discover_url}/library/sections/watchlist/all"
        async with http.get(url, headers={"X-Plex-Token": world.owner.token}) as resp:
            page = ET.fromstring(await resp.read())
    assert (len(page), page.get("totalSize")) == (20, "27")  # 20 a page unless asked


async def test_friends_watchlist_rss(
    fake_plex: FakePlexServer, world: World, plextv: PlexTransport
) -> None:
    """The friends' feed as Plex serves it in 2026 (DOMAIN.md "Plex as it is in 2026", from
    the Pulsarr and watchlistarr trackers): on the discover host (watchlistarr #56 shows
    discover.provider.plex.tv/rss minting it), may redirect, `<author>` is the friend's UUID
    as in their plex.tv avatar URL; the retired rss.plex.tv URL answers 401."""
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
            assert [r.status for r in resp.history] == [302]
            root = ET.fromstring(await resp.read())
        async with http.get(fake_plex.retired_rss_url("friends")) as resp:
            assert resp.status == 401
        async with http.get(url, params={"format": "json"}) as resp:
            as_json = await resp.json()
    items = root.findall("./channel/item")
    assert [i.findtext("title") for i in items] == ["Heat"]
    assert items[0].findtext("author") == bob.uuid
    thumb = await asyncio.to_thread(_friend_thumb, world, bob.id, plextv)
    assert f"/users/{bob.uuid}/avatar" in thumb
    assert items[0].findtext("category") == "movie"
    assert [g.text for g in items[0].findall("guid")] == [*heat.guids, heat.plex_guid]
    assert as_json["items"][0]["guids"][0] == heat.guids[0]


def _friend_thumb(world: World, user_id: int, plextv: PlexTransport) -> str:
    users = {u.id: u.thumb for u in MyPlexAccount(token=world.owner.token, session=plextv).users()}
    return str(users[user_id])
