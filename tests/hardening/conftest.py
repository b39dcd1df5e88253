"""The whole daemon on a simulated Plex: real folders, real SQLite, real HTTP.

`World` builds the media under `tmp/array` (Plex sees it under `/data`); the one mapping
sends it to `tmp/cache`. Every secret is set, so a test can look for each of them anywhere.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from cacherr import keys
from cacherr.app import create_app
from cacherr.config import ConfigStore
from cacherr.fakeplex import FakePlexServer, World, start_fake_plex, webhooks
from cacherr.fakeplex.model import Episode, Movie, User
from cacherr.security.passwords import hash_password

Client = TestClient[Any, Any]
ClientFactory = Callable[..., Awaitable[Client]]

SECRETS = {
    "api_key": "apikey-5ec2e7-0123456789abcdef",
    "webhook": "hooksecret-7f7f-abcdefghijkl",
    "password": "Sw0rdfish-Password-771",
    "apprise": "json://127.0.0.1:9/apprise-secret-4242",
    "trakt": "trakt-client-id-9c9c9c",
    "tmdb": "tmdb-api-key-8d8d8d",
    "rss": "https://rss.example/friends-feed-token-6e6e",
    "list_token": "list-url-token-5f5f5f",
}


def world_for(root: Path, *, file_bytes: int = 8192) -> World:
    """Two shows, two movies and two viewers; files under `root/array`."""
    w = World(array_root=root / "array", plex_root="/data", file_bytes=file_bytes)
    w.add_show("The Expanse", seasons={1: 6, 2: 4}, year=2015, subtitles=["en"])
    w.add_show("Severance", seasons={1: 5}, year=2022)
    w.add_movie("Heat", year=1995)
    w.add_movie("Alien", year=1979)
    w.add_user("alice", kind="home")
    w.add_user("bob", kind="shared")
    return w


@functools.cache
def password_hash() -> str:
    """The stored hash of SECRETS["password"] (scrypt is slow: made once)."""
    return hash_password(SECRETS["password"])


def settings_for(root: Path, fake: FakePlexServer, world: World, **extra: Any) -> dict[str, Any]:
    """A complete cacherr.json for the sandbox under `root`."""
    data: dict[str, Any] = {
        "plex": {
            "url": fake.url,
            "token": world.owner.token,
            "plextv_url": fake.plextv_url,
            "discover_url": fake.discover_url,
            "metadata_url": fake.metadata_url,
            "plextv_min_interval_ms": 0,
            "timeout_s": 3,
            "retries": 1,
            "friends_watchlist_rss": SECRETS["rss"],
        },
        "paths": {
            "mappings": [
                {
                    "name": "media",
                    "plex": "/data",
                    "array": str(root / "array"),
                    "cache": str(root / "cache"),
                }
            ]
        },
        "cache": {"next_episodes": 2, "limit": "100%", "min_free": "0%", "verify": "full"},
        "sessions": {"enabled": False},
        "sweep": {"on_start": False, "interval_s": 86400},
        "web": {
            "api_key": SECRETS["api_key"],
            "username": "admin",
            "password_hash": password_hash(),
        },
        "webhook": {"secret": SECRETS["webhook"]},
        "notifications": {"urls": [SECRETS["apprise"]], "batch_window_s": 0.05},
        "lists": {
            "trakt_client_id": SECRETS["trakt"],
            "tmdb_api_key": SECRETS["tmdb"],
            "trakt_url": fake.url + "/nowhere-trakt",
            "tmdb_url": fake.url + "/nowhere-tmdb",
            "imdb_url": fake.url + "/nowhere-imdb",
        },
        "mover": {"pid_file": str(root / "mover.pid"), "exclude_file": "mover_exclude.txt"},
    }
    for section, values in extra.items():
        data.setdefault(section, {}).update(values)
    return data


def snapshot(root: Path) -> dict[str, tuple[str, str]]:
    """Every entry under `root`: kind and content hash (files) or target (links)."""
    out: dict[str, tuple[str, str]] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            out[rel] = ("link", str(path.readlink()))
        elif path.is_file():
            out[rel] = ("file", hashlib.sha256(path.read_bytes()).hexdigest())
        else:
            out[rel] = ("dir", "")
    return out


def plex_payload(event: str, world: World, user: User, rating_key: str) -> dict[str, Any]:
    """A Plex webhook payload naming an item by ratingKey (what Plex sends)."""
    item = world.item(int(rating_key)) if rating_key.isdigit() else None
    if isinstance(item, Episode | Movie):
        return webhooks.from_world(event, world, user, item)
    return webhooks.from_world(event, world, user, meta={"ratingKey": rating_key, "type": "movie"})


def plex_form(payload: Any) -> aiohttp.FormData:
    """A multipart body the way Plex sends it."""
    return webhooks.form(payload)


async def settle(app: Any, timeout_s: float = 20) -> None:
    """Wait until reactions, the executor and the bookkeeping after it are idle."""

    async def idle() -> None:
        for _ in range(3):
            await app[keys.REACTOR].run_until_idle()
            await app[keys.CACHE_ENGINE].run_until_idle()
            await asyncio.sleep(0.01)

    await asyncio.wait_for(idle(), timeout_s)


async def journal_rows(app: Any) -> list[Any]:
    """Every row of the operations journal."""
    return list(await app[keys.DB].fetchall("SELECT * FROM operations"))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "sandbox"
    (folder / "cache").mkdir(parents=True)
    return folder


@pytest.fixture
def world(root: Path) -> World:
    return world_for(root)


@pytest.fixture
async def fake(world: World) -> AsyncIterator[FakePlexServer]:
    server = await start_fake_plex(world)
    yield server
    await server.close()


@pytest.fixture
def hstore(root: Path, fake: FakePlexServer, world: World) -> ConfigStore:
    opened = ConfigStore.open(root / "config")
    opened.save(settings_for(root, fake, world))
    return opened


@pytest.fixture
async def daemon(aiohttp_client: ClientFactory, hstore: ConfigStore) -> Client:
    """The real app on the sandbox, connected to the simulated Plex, API key on every call."""
    client = await aiohttp_client(create_app(hstore), headers={"X-Api-Key": SECRETS["api_key"]})
    assert await client.app[keys.PLEX].wait_settled(5) == "connected"
    return client
