"""Evicting a file from the page: back to the array now, unless pinned, played or unknown."""

from __future__ import annotations

from pathlib import Path

from cacherr import keys
from cacherr.fakeplex import World

from .flow import AppFactory, Client, send, settle
from .test_end_to_end import files_of, is_cached, is_on_array, movie


def api_key(client: Client) -> dict[str, str]:
    key = client.app[keys.CONFIG].current.web.api_key
    assert key is not None
    return {"X-Api-Key": key.get_secret_value()}


async def evict(client: Client, path: str) -> tuple[int, str]:
    resp = await client.post("/api/files/evict", json={"path": path}, headers=api_key(client))
    body = await resp.json()
    return resp.status, body["message"]


async def test_evict_sends_the_file_back_and_releases_its_claims(
    start_app: AppFactory, world: World, cache_root: Path
) -> None:
    client = await start_app()
    heat = movie(world, "Heat")
    alice = world.user("alice")
    await send(client, "media.play", heat, alice)
    assert is_cached(world, cache_root, heat)
    plex_path = heat.media[0].parts[0].file

    assert await evict(client, "/data/nothing/here.mkv") == (
        404,
        "/data/nothing/here.mkv is not on the cache",
    )
    status, _ = await evict(client, plex_path)
    assert status == 202
    await settle(client)
    assert is_on_array(world, cache_root, heat)
    assert await client.app[keys.CACHE_ENGINE].store.for_path(plex_path) == []
    assert all(p.exists() for p in files_of(world, heat))


async def test_a_pinned_file_is_not_evicted(
    start_app: AppFactory, world: World, cache_root: Path
) -> None:
    client = await start_app()
    heat = movie(world, "Heat")
    resp = await client.post(
        "/api/pins", json={"rating_key": str(heat.rating_key)}, headers=api_key(client)
    )
    assert resp.status == 201, await resp.text()
    await settle(client)
    assert is_cached(world, cache_root, heat)
    status, message = await evict(client, heat.media[0].parts[0].file)
    assert (status, message.endswith("is pinned; unpin it first")) == (409, True)
    assert is_cached(world, cache_root, heat)


async def test_a_file_being_played_is_not_evicted(
    start_app: AppFactory, world: World, cache_root: Path
) -> None:
    client = await start_app()
    heat = movie(world, "Heat")
    alice = world.user("alice")
    await send(client, "media.play", heat, alice)
    world.start_session(alice, heat)
    poller = client.app[keys.SESSION_POLLER]
    assert await poller.poll_once()
    status, message = await evict(client, heat.media[0].parts[0].file)
    assert status == 409 and "being played" in message
    assert is_cached(world, cache_root, heat)


async def test_a_file_unpinned_after_a_sweep_can_be_evicted(
    start_app: AppFactory, world: World, cache_root: Path
) -> None:
    # The sweep re-reads the index while the pin holds the file; unpinning afterwards must
    # free it at once (no stale `pinned` flag until the next sweep), in the eviction order too.
    client = await start_app()
    heat = movie(world, "Heat")
    pin = {"rating_key": str(heat.rating_key)}
    assert (await client.post("/api/pins", json=pin, headers=api_key(client))).status == 201
    await settle(client)
    await client.app[keys.SWEEPER].sweep()
    await settle(client)
    plex_path = heat.media[0].parts[0].file
    engine = client.app[keys.CACHE_ENGINE]
    assert engine.index.pinned(plex_path)
    resp = await client.delete(f"/api/pins/{heat.rating_key}", headers=api_key(client))
    assert resp.status == 200, await resp.text()
    assert not engine.index.pinned(plex_path)
    order = [c.file.plex_path for c in engine.index.eviction_order(engine.clock())]
    assert plex_path in order
    status, message = await evict(client, plex_path)
    assert status == 202, message
    await settle(client)
    assert is_on_array(world, cache_root, heat)
