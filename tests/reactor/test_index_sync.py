"""The engine's in-memory index stays equal to the database when writers overlap the sweep."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from cacherr import keys
from cacherr.claims import Claim
from cacherr.fakeplex import World, webhooks
from cacherr.fakeplex.model import Show

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


async def test_copies_waiting_to_start_stay_in_flight_when_the_sweep_reloads_the_index(
    start_app: AppFactory, world: World, cache_root: Path, tmp_path: Path
) -> None:
    """While the mover runs, the copies of a play wait in the executor, not yet journaled.
    The play is Plex's `media.play` multipart webhook as `cacherr.fakeplex.webhooks` builds
    it (shape from Plex's support article "Webhooks", support.plex.tv/articles/115002267687).
    The sweep's reload of the index (from the database) keeps them in flight: a plan made
    after it neither asks for them again nor counts their room as free (it did both, and
    the protocol's own space check then refused copies the plan had counted room for)."""
    mover_pid = tmp_path / "mover.pid"
    mover_pid.write_text(str(os.getpid()))  # a live process: the mover "runs"
    client = await start_app(mover={"pid_file": str(mover_pid)})
    engine, executor = client.app[keys.CACHE_ENGINE], client.app[keys.EXECUTOR]
    bluey = next(s for s in world.items.values() if isinstance(s, Show) and s.title == "Bluey")
    first = bluey.seasons[0].episodes[0]
    secret = client.app[keys.CONFIG].current.webhook.secret
    assert secret is not None
    form = webhooks.form(webhooks.from_world("media.play", world, world.owner, first))
    resp = await client.post(
        "/api/webhooks/plex", data=form, params={"secret": secret.get_secret_value()}
    )
    assert resp.status == 202
    await client.app[keys.REACTOR].run_until_idle()
    waiting = {op.location.plex_path for op in executor.operations() if op.kind == "cache"}
    assert len(waiting) == 3  # S01E01 playing, S01E02 and S01E03 next
    used = sum(f.size_bytes for f in engine.index.managed_files.values())

    await engine.load()
    for path in waiting:
        held = engine.index.managed(path)
        assert held is not None and held.in_flight
    assert sum(f.size_bytes for f in engine.index.managed_files.values()) == used
    _, submitted = await engine.plan(None)
    assert submitted.cached == 0

    mover_pid.unlink()
    await settle(client)
    for ep in bluey.seasons[0].episodes[:3]:
        assert is_cached(world, cache_root, ep)
    assert not await client.app[keys.DB].fetchall(
        "SELECT id FROM operations WHERE state = 'failed'"
    )
