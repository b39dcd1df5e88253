"""Fixtures: a simulated Plex world, served, and Cacherr's Plex side pointed at it by settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cacherr.config.models import Settings
from cacherr.db import Database
from cacherr.events import EventBus, Subscription
from cacherr.fakeplex import FakePlexServer, World, start_fake_plex
from cacherr.plex.gateway import PlexGateway
from cacherr.plex.library import Library
from cacherr.plex.status import PlexStatus
from cacherr.plex.users import UserDirectory


class Box:
    """The settings in force; tests swap them like a reload would."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def __call__(self) -> Settings:
        return self.settings

    def patch(self, section: str, **values: Any) -> None:
        data = self.settings.model_dump()
        data[section].update(values)
        self.settings = Settings.model_validate(data)


class Clock:
    """A wall clock a test moves by hand."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def world(tmp_path: Path) -> World:
    """Two TV libraries (one hidden from Home), movies in two versions, four other users."""
    w = World(array_root=tmp_path / "array", plex_root="/data", file_bytes=16)
    w.add_show("The Expanse", seasons={0: 1, 1: 3, 2: 3}, year=2015)
    w.add_movie("Heat", year=1995, versions=2, resolution="1080")
    w.add_movie("Alien", year=1979, resolution="4k")
    w.add_library("Kids", "show", hidden_from_home=True)
    w.add_show("Bluey", seasons={1: 4}, library="Kids")
    w.add_user("alice", kind="home")
    w.add_user("bob", kind="shared")
    w.add_user("carol", kind="shared", libraries=["Movies"])
    dave = w.add_user("dave", kind="shared")
    dave.shared_token_withdrawn = True
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
def box(fake: FakePlexServer, world: World) -> Box:
    return Box(
        Settings.model_validate(
            {
                "plex": {
                    "url": fake.url,
                    "token": world.owner.token,
                    "plextv_url": fake.plextv_url,
                    "discover_url": fake.discover_url,
                    "metadata_url": fake.metadata_url,
                    "plextv_min_interval_ms": 0,
                    "timeout_s": 2,
                    "retries": 2,
                    "friends_watchlist_rss": fake.rss_url("friends"),
                },
                "users": {"shared": {"watchlist": True}},
            }
        )
    )


@pytest.fixture
def bus() -> EventBus:
    return EventBus()


@pytest.fixture
def states(bus: EventBus) -> Subscription:
    """The plex_state events, in order."""
    return bus.subscribe({"plex_state"})


@pytest.fixture
async def gateway(box: Box, bus: EventBus, states: Subscription) -> AsyncIterator[PlexGateway]:
    """Started and settled; `states` already listens, so the first event is seen."""
    gw = PlexGateway(
        lambda: box().plex, PlexStatus("connecting"), bus,
        backoff_base_s=0.01, probe_min_s=0.05, probe_max_s=0.2,
    )  # fmt: skip
    await gw.start()
    await gw.wait_settled(5)
    yield gw
    await gw.close()


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "cacherr.db")
    yield database
    await database.close()


@pytest.fixture
async def users(gateway: PlexGateway, db: Database, box: Box, clock: Clock) -> UserDirectory:
    directory = UserDirectory(gateway, db, box, clock=clock)
    await directory.refresh()
    return directory


@pytest.fixture
def library(gateway: PlexGateway, box: Box) -> Library:
    return Library(gateway, box)
