"""Fixtures: the real app on a simulated Plex, real files under an array and a cache folder."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cacherr import keys
from cacherr.app import create_app
from cacherr.config import ConfigStore
from cacherr.fakeplex import FakePlexServer, World, start_fake_plex

from .flow import AppFactory, Client, Clock

FILE_BYTES = 4096


@pytest.fixture
def world(tmp_path: Path) -> World:
    """The Expanse (two seasons of three, English subtitles), Bluey, Heat; alice and bob."""
    w = World(array_root=tmp_path / "array", plex_root="/data", file_bytes=FILE_BYTES)
    w.add_show("The Expanse", seasons={1: 3, 2: 3}, year=2015, subtitles=["en"])
    w.add_show("Bluey", seasons={1: 4}, year=2018)
    w.add_movie("Heat", year=1995)
    w.add_user("alice", kind="home")
    w.add_user("bob", kind="shared")
    return w


@pytest.fixture
async def fake(world: World) -> AsyncIterator[FakePlexServer]:
    server = await start_fake_plex(world)
    yield server
    await server.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache_root(tmp_path: Path) -> Path:
    root = tmp_path / "cache"
    root.mkdir()
    return root


def write_config(config_dir: Path, fake: FakePlexServer, world: World, cache_root: Path,
                 **sections: dict[str, Any]) -> None:  # fmt: skip
    """cacherr.json pointing at the simulated Plex, one mapping, quick settings."""
    config: dict[str, Any] = {
        "plex": {"url": fake.url, "token": world.owner.token, "plextv_url": fake.plextv_url,
                 "discover_url": fake.discover_url, "metadata_url": fake.metadata_url,
                 "plextv_min_interval_ms": 0, "timeout_s": 2, "retries": 0},
        "paths": {"mappings": [{"name": "tv", "plex": "/data", "array": str(world.array_root),
                                "cache": str(cache_root)}]},
        "cache": {"next_episodes": 2, "min_free": "0B", "limit": "100%", "verify": "full"},
        "sweep": {"on_start": False},
        "sessions": {"poll_interval_s": 3600},
    }  # fmt: skip
    for name, values in sections.items():
        config.setdefault(name, {}).update(values)
    (config_dir / "cacherr.json").write_text(json.dumps(config))


@pytest.fixture
def start_app(
    aiohttp_client: Any,
    config_dir: Path,
    fake: FakePlexServer,
    world: World,
    cache_root: Path,
    clock: Clock,
) -> AppFactory:
    """Write the config, build the real app with the test clock, start it, wait for Plex."""

    async def start(*, write: bool = True, **sections: dict[str, Any]) -> Client:
        if write:
            write_config(config_dir, fake, world, cache_root, **sections)
        app = create_app(ConfigStore.open(config_dir))
        app[keys.CLOCK] = clock
        app[keys.SLEEP] = clock.sleep
        client: Client = await aiohttp_client(app)
        assert await app[keys.PLEX].wait_settled(5) == "connected"
        return client

    return start
