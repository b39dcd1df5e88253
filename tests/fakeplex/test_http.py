"""Plex's JSON flavour, token handling, fault injection and the request counter."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from plexapi.server import PlexServer

from cacherr.fakeplex import FakePlexServer, FakePlexThread, Movie, Show, World


@pytest.fixture
async def http(world: World) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(headers={"X-Plex-Token": world.owner.token}) as s:
        yield s


def _movie(world: World, title: str) -> Movie:
    return next(i for i in world.items.values() if isinstance(i, Movie) and i.title == title)


async def test_json_metadata_and_sessions(
    fake_plex: FakePlexServer, world: World, http: aiohttp.ClientSession
) -> None:
    heat = _movie(world, "Heat")
    world.start_session(world.user("alice"), heat, offset_ms=5_000)
    accept = {"Accept": "application/json"}
    async with http.get(
        f"{fake_plex.url}/library/metadata/{heat.rating_key}", headers=accept
    ) as resp:
        body = await resp.json()
    meta = body["MediaContainer"]["Metadata"][0]
    assert meta["ratingKey"] == str(heat.rating_key)
    assert meta["Media"][0]["Part"][0]["file"] == heat.media[0].parts[0].file
    assert meta["Guid"][0]["id"] == heat.guids[0]
    async with http.get(f"{fake_plex.url}/status/sessions", headers=accept) as resp:
        sess = (await resp.json())["MediaContainer"]["Metadata"][0]
    assert sess["User"]["title"] == "alice"
    assert sess["Player"]["state"] == "playing"
    assert sess["viewOffset"] == 5_000
    async with http.get(f"{fake_plex.url}/library/sections", headers=accept) as resp:
        dirs = (await resp.json())["MediaContainer"]["Directory"]
    assert [d["hidden"] for d in dirs] == [0, 0, 1]


async def test_token_in_query_and_missing_token(fake_plex: FakePlexServer, world: World) -> None:
    async with aiohttp.ClientSession() as bare:
        async with bare.get(
            f"{fake_plex.url}/library/sections", params={"X-Plex-Token": world.owner.token}
        ) as resp:
            assert resp.status == 200
        async with bare.get(f"{fake_plex.url}/library/sections") as resp:
            assert resp.status == 401
        async with bare.get(f"{fake_plex.url}/identity") as resp:
            assert resp.status == 200


async def test_latency(fake_plex: FakePlexServer, http: aiohttp.ClientSession) -> None:
    fake_plex.faults.rule(kind="pms").latency_ms = 150
    started = time.monotonic()
    async with http.get(f"{fake_plex.url}/library/sections") as resp:
        assert resp.status == 200
    assert time.monotonic() - started >= 0.15
    assert fake_plex.faults.matching("plextv", "/api/v2/user") == []  # plex.tv is not slowed
    async with http.get(f"{fake_plex.plextv_url}/api/v2/user") as resp:
        assert resp.status == 200


async def test_forced_429_on_one_route(
    fake_plex: FakePlexServer, http: aiohttp.ClientSession
) -> None:
    rule = fake_plex.faults.rule(route="/api/users/")
    rule.too_many_requests, rule.retry_after_s = True, 7
    async with http.get(f"{fake_plex.plextv_url}/api/users/") as resp:
        assert resp.status == 429
        assert resp.headers["Retry-After"] == "7"
    async with http.get(f"{fake_plex.plextv_url}/api/v2/user") as resp:
        assert resp.status == 200
    rule.too_many_requests = False
    async with http.get(f"{fake_plex.plextv_url}/api/users/") as resp:
        assert resp.status == 200


async def test_error_rate_is_seeded(fake_plex: FakePlexServer, http: aiohttp.ClientSession) -> None:
    fake_plex.faults.rule().error_rate = 0.5
    statuses = []
    for _ in range(40):
        async with http.get(f"{fake_plex.url}/identity") as resp:
            statuses.append(resp.status)
    assert set(statuses) == {200, 500}
    assert 10 <= statuses.count(500) <= 30


async def test_down_modes_and_connection_refused(
    fake_plex: FakePlexServer, http: aiohttp.ClientSession
) -> None:
    rule = fake_plex.faults.rule(kind="plextv")
    rule.down = True
    with pytest.raises(aiohttp.ClientError):
        async with http.get(f"{fake_plex.plextv_url}/api/v2/user"):
            pass
    rule.down_mode = "503"
    async with http.get(f"{fake_plex.plextv_url}/api/v2/user") as resp:
        assert resp.status == 503
    async with http.get(f"{fake_plex.url}/identity") as resp:  # the PMS is still up
        assert resp.status == 200
    fake_plex.faults.clear()

    await fake_plex.stop_listening()
    with pytest.raises(aiohttp.ClientConnectorError):
        async with http.get(f"{fake_plex.url}/identity"):
            pass
    await fake_plex.resume_listening()
    async with http.get(f"{fake_plex.url}/identity") as resp:
        assert resp.status == 200


async def test_request_counter(fake_plex: FakePlexServer, world: World) -> None:
    heat = _movie(world, "Heat")
    show = next(i for i in world.items.values() if isinstance(i, Show))

    def browse() -> None:
        plex = PlexServer(fake_plex.url, world.owner.token)
        plex.library.sections()
        plex.fetchItem(heat.rating_key)
        plex.fetchItem(show.rating_key).episodes()

    await asyncio.to_thread(browse)
    counter = fake_plex.counter
    assert counter.count("/") == 1
    assert counter.count("/library/metadata/{rk}") == 2
    assert counter.count("/library/metadata/{rk}/allLeaves") == 1
    assert counter.by_kind() == {"pms": counter.total()}
    assert counter.by_route()["/library/sections"] == 1
    counter.reset()
    assert counter.total() == 0


def test_background_thread_for_sync_callers(world: World) -> None:
    with FakePlexThread(world) as fp:
        plex = PlexServer(fp.url, world.owner.token)
        assert [s.title for s in plex.library.sections()] == ["TV Shows", "Movies", "Kids"]
        assert fp.counter.count("/library/sections") == 1
