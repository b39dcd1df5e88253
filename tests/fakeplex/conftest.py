"""Fixtures: a small simulated Plex world, served, and a plexapi session pointed at it."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from cacherr.config.models import PlexConfig
from cacherr.fakeplex import FakePlexServer, World, start_fake_plex
from cacherr.plex.transport import PlexTransport


@pytest.fixture
def world(tmp_path: Path) -> World:
    """Movies, a show with specials, a hidden kids library and three other users."""
    clock = itertools.count(1_700_000_000)
    w = World(
        array_root=tmp_path / "array", plex_root="/data", file_bytes=256, clock=lambda: next(clock)
    )
    w.add_show("The Expanse", seasons={0: 1, 1: 3, 2: 2}, year=2015, subtitles=["en"])
    w.add_movie("Heat", year=1995)
    w.add_movie("Alien", year=1979)
    w.add_library("Kids", "show", hidden_from_home=True)
    w.add_show("Bluey", seasons={1: 3}, library="Kids")
    w.add_user("alice", kind="home")
    w.add_user("bob", kind="shared")
    w.add_user("carol", kind="shared", libraries=["Movies"])
    return w


@pytest.fixture
async def fake_plex(world: World) -> AsyncIterator[FakePlexServer]:
    """The world served on a free port."""
    server = await start_fake_plex(world)
    yield server
    await server.close()


@pytest.fixture
def plextv(fake_plex: FakePlexServer) -> Iterator[PlexTransport]:
    """The `session` to give plexapi's `MyPlexAccount`: its hard-wired plex.tv, discover and
    metadata URLs go to the simulated hosts, by the base-URL settings Cacherr itself uses
    (no retries, no spacing), and for this session's requests only."""
    config = PlexConfig.model_validate({
        "url": fake_plex.url, "plextv_url": fake_plex.plextv_url,
        "discover_url": fake_plex.discover_url, "metadata_url": fake_plex.metadata_url,
        "retries": 0, "plextv_min_interval_ms": 0,
    })  # fmt: skip
    session = PlexTransport(lambda: config, lambda _outcome: None)
    yield session
    session.close()
