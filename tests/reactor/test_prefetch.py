"""How far ahead a play and an on-deck episode cache when `cache.prefetch_minutes` asks for
runtime, not a count.

The real app on the simulated Plex (episodes run 45 minutes, `fakeplex.builder`'s default),
real files; a play arrives as Plex's webhook."""

from __future__ import annotations

from pathlib import Path

from cacherr.fakeplex import World

from .flow import AppFactory, api_key, send, settle
from .test_end_to_end import episode, is_cached, is_on_array


async def test_a_play_caches_enough_episodes_to_cover_the_prefetch_minutes(
    start_app: AppFactory, world: World, cache_root: Path
) -> None:
    """100 minutes of 45-minute episodes is three of them (45 + 45 < 100 <= 135), whatever
    `cache.next_episodes` (2 here) says; a user's own `episodes_ahead` would still win."""
    client = await start_app(cache={"prefetch_minutes": 100})
    await send(client, "media.play", episode(world, "The Expanse", 1, 1), world.owner)

    for number in ((1, 1), (1, 2), (1, 3), (2, 1)):
        assert is_cached(world, cache_root, episode(world, "The Expanse", *number)), number
    assert is_on_array(world, cache_root, episode(world, "The Expanse", 2, 2))


async def test_an_on_deck_episode_brings_the_prefetch_minutes_after_it(
    start_app: AppFactory, world: World, cache_root: Path
) -> None:
    """The sweep's on-deck look-ahead is the play's: 100 minutes after the on-deck episode,
    not `cache.next_episodes` (2)."""
    client = await start_app(cache={"prefetch_minutes": 100})
    world.set_progress(world.owner, episode(world, "The Expanse", 1, 1), 60_000)
    assert (await client.post("/api/sweep", headers=api_key(client))).status == 202
    await settle(client)

    for number in ((1, 1), (1, 2), (1, 3), (2, 1)):
        assert is_cached(world, cache_root, episode(world, "The Expanse", *number)), number
    assert is_on_array(world, cache_root, episode(world, "The Expanse", 2, 2))
