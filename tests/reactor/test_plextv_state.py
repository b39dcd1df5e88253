"""The sweep and the plan route work from the latest known plex.tv state, never waiting on it.

plex.tv answers 429 to bursts (watchstate #325, Maintainerr #1250), so users, tokens and
watchlists are refreshed in the background within its budget; a sweep uses what is known.
"""

from __future__ import annotations

from pathlib import Path

from cacherr import keys
from cacherr.fakeplex import FakePlexServer, Movie, World
from cacherr.reactor.collect import Collector

from .flow import AppFactory, Client, api_key, settle


def heat(world: World) -> Movie:
    return next(i for i in world.items.values() if isinstance(i, Movie) and i.title == "Heat")


def collector(client: Client) -> Collector:
    found = client.app[keys.SWEEPER].collector
    assert found is not None
    return found


async def heat_claimed(client: Client) -> bool:
    store = client.app[keys.CACHE_ENGINE].store
    return any(c.source == "watchlist" for c in await store.for_user("1"))


async def test_watchlists_come_in_the_background_and_the_sweep_does_not_wait(
    start_app: AppFactory, world: World, fake: FakePlexServer, cache_root: Path
) -> None:
    world.add_to_watchlist(world.owner, heat(world))
    client = await start_app()
    sweeper = client.app[keys.SWEEPER]
    await sweeper.sweep()  # watchlists unknown yet: none claimed, a refresh starts
    await collector(client).wait_refreshed()  # it found the list changed: a sweep follows
    await settle(client)
    assert await heat_claimed(client)
    # Later sweeps plan from the known watchlists: no discover call while they run.
    before = fake.counter.total(kind="discover")
    await sweeper.sweep()
    assert fake.counter.total(kind="discover") == before
    assert await heat_claimed(client)


async def test_the_plan_route_answers_from_the_known_state(
    start_app: AppFactory, world: World, fake: FakePlexServer
) -> None:
    world.add_to_watchlist(world.owner, heat(world))
    client = await start_app()
    await client.app[keys.SWEEPER].sweep()
    await collector(client).wait_refreshed()
    await settle(client)
    fake.counter.reset()
    client.app[keys.PLEX_LIBRARY].invalidate()  # nothing Plex said is kept but the state
    for _ in range(3):
        resp = await client.get("/api/plan", headers=api_key(client))
        assert resp.status == 200
    assert fake.counter.total() == 0  # neither Plex nor plex.tv asked
    resp = await client.get("/api/plan", params={"refresh": "1"}, headers=api_key(client))
    assert resp.status == 200 and fake.counter.total(kind="pms") > 0
