"""The engine's in-memory index stays equal to the database when writers overlap the sweep."""

from __future__ import annotations

import asyncio
from pathlib import Path

from cacherr import keys
from cacherr.claims import Claim
from cacherr.fakeplex import World

from .flow import AppFactory, settle
from .test_end_to_end import is_cached, movie

# Enough claims that reading them all takes longer than a reaction's write and commit.
MANY_CLAIMS = 20_000


async def test_a_reaction_landing_while_the_sweep_reloads_the_index_keeps_its_claims(
    start_app: AppFactory, world: World, cache_root: Path
) -> None:
    client = await start_app()
    engine = client.app[keys.CACHE_ENGINE]
    now = engine.clock()
    listed = [Claim(f"/data/list/{n}.mkv", "list", "big list") for n in range(MANY_CLAIMS)]
    await engine.store.replace("list", "big list", listed, now=now)
    heat = movie(world, "Heat")
    path = heat.media[0].parts[0].file
    # The sweep's reload reads the store; a play's reaction writes its claim and commits
    # while that read is under way.
    reload = asyncio.create_task(engine.load())
    await asyncio.sleep(0)
    claim = Claim(path, "manual", priority=100.0, rating_key=str(heat.rating_key))
    await engine.commit(await engine.store.upsert([claim], now=now), [path])
    await reload
    assert [c.source for c in engine.index.claims(path)] == ["manual"]
    await settle(client)
    assert is_cached(world, cache_root, heat)
