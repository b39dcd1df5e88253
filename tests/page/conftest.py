"""The page's API on the real app: a mapping to real folders, a seeded database, the API key."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cacherr import keys
from cacherr.app import create_app
from cacherr.config import ConfigStore
from cacherr.db import Database

Client = TestClient[Any, Any]
ClientFactory = Callable[..., Awaitable[Client]]

SECRETS = {
    "plex": {"token": "plex-token-c0ffee-0001", "friends_watchlist_rss": "https://rss.example/x9"},
    "notifications": {
        "urls": ["json://127.0.0.1:9/notify-secret-7788"],
        "events": dict.fromkeys(
            ("caching_summary", "restores", "errors", "low_space", "plex_status"), False
        ),
    },
    "lists": {"trakt_client_id": "trakt-id-55aa", "tmdb_api_key": "tmdb-key-66bb"},
}


def headers(store: ConfigStore) -> dict[str, str]:
    """The API key header."""
    assert store.current.web.api_key is not None
    return {"X-Api-Key": store.current.web.api_key.get_secret_value()}


def origin(client: Client) -> dict[str, str]:
    url = client.make_url("/")
    return {"Origin": f"{url.scheme}://{url.host}:{url.port}"}


@pytest.fixture
def media(tmp_path: Path) -> dict[str, Path]:
    """Array and cache roots of one mapping ('tv', Plex prefix /data/tv)."""
    roots = {"array": tmp_path / "array" / "tv", "cache": tmp_path / "cache" / "tv"}
    for root in roots.values():
        root.mkdir(parents=True)
    return roots


@pytest.fixture
def api_store(config_dir: Path, media: dict[str, Path]) -> ConfigStore:
    """A config folder with one mapping, the whole pool as the limit and every secret set."""
    opened = ConfigStore.open(config_dir)
    mapping = {"name": "tv", "plex": "/data/tv", "array": str(media["array"])}
    mapping["cache"] = str(media["cache"])
    opened.save({"paths": {"mappings": [mapping]}, "cache": {"limit": "100%"}, **SECRETS})
    return opened


@pytest.fixture
async def api(aiohttp_client: ClientFactory, api_store: ConfigStore) -> Client:
    """The real app on `api_store`, sending the API key with every request."""
    return await aiohttp_client(create_app(api_store), headers=headers(api_store))


async def put_file(
    db: Database, media: dict[str, Path], rel: str, size: int, *, cached_at: float | None = None
) -> int:
    """A cached file on disk (cache copy, array backup) and its managed_files row."""
    cache = media["cache"] / rel
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_bytes(b"x" * size)
    backup = media["array"] / (rel + ".plexcached")
    backup.parent.mkdir(parents=True, exist_ok=True)
    backup.write_bytes(b"x" * size)
    st = cache.stat()
    return await db.execute(
        "INSERT INTO managed_files (mapping, rel_path, plex_path, rating_key, state, size_bytes,"
        " mtime_ns, cached_at) VALUES ('tv', ?, ?, ?, 'cached', ?, ?, ?)",
        (rel, f"/data/tv/{rel}", rel[:8], size, st.st_mtime_ns, cached_at or time.time()),
    )


async def put_claim(
    db: Database, rel: str, source: str, user_id: str, priority: float, reason: str
) -> None:
    """One claim on /data/tv/<rel>."""
    await db.execute(
        "INSERT INTO claims (plex_path, source, user_id, priority, reason, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (f"/data/tv/{rel}", source, user_id, priority, reason, time.time()),
    )


@pytest.fixture
async def seeded(api: Client, media: dict[str, Path]) -> Database:
    """Two users, three cached files with claims, two journaled operations."""
    db = api.app[keys.DB]
    now = time.time()
    for uid, name, kind in (("1", "alice", "main"), ("22", "bob", "shared")):
        await db.execute(
            "INSERT INTO users (id, username, title, kind, updated_at) VALUES (?, ?, ?, ?, ?)",
            (uid, name, name.title(), kind, now),
        )
    await put_file(db, media, "Show/S01E02.mkv", 3000, cached_at=now - 100)
    await put_file(db, media, "Show/S01E03.mkv", 2000, cached_at=now - 50)
    await put_file(db, media, "Movie (2020)/Movie.mkv", 5000, cached_at=now - 10)
    await put_claim(db, "Show/S01E02.mkv", "next_up", "1", 670, "next episode (S01E02) for alice")
    await put_claim(db, "Show/S01E03.mkv", "next_up", "1", 658, "next episode (S01E03) for alice")
    await put_claim(db, "Show/S01E03.mkv", "ondeck", "22", 400, "on deck for bob")
    for kind, state, rel in (
        ("cache", "done", "Show/S01E02.mkv"),
        ("restore", "failed", "Old.mkv"),
    ):
        await db.execute(
            "INSERT INTO operations (kind, mapping, rel_path, array_path, cache_path, step, state,"
            " size_bytes, bytes_done, error, created_at, updated_at, finished_at)"
            " VALUES (?, 'tv', ?, '/a', '/c', 'done', ?, 10, 10, ?, ?, ?, ?)",
            (kind, rel, state, "disk on fire" if state == "failed" else None, now, now, now + 2),
        )
    return db
