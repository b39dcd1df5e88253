"""Fixtures: a small simulated Plex world, served, with plexapi pointed at it."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cacherr.fakeplex import FakePlexServer, World, point_plexapi_at, start_fake_plex


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
    """The world served on a free port; plexapi's plex.tv URLs point at it meanwhile."""
    server = await start_fake_plex(world)
    with point_plexapi_at(server.plextv_url, server.discover_url, server.metadata_url):
        yield server
    await server.close()
