"""The app factory on a real config folder: health, the envelope, the lock, hot reload."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from cacherr import __version__, events, keys
from cacherr.app import create_app
from cacherr.config import ConfigStore
from cacherr.config.store import CONFIG_NAME
from cacherr.errors import Conflict

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]
ENVELOPE = {"success", "data", "message", "error", "timestamp"}


async def test_health_is_open_and_reports_version_uptime_database_and_plex(
    client: TestClient[Any, Any],
) -> None:
    resp = await client.get("/api/health")
    assert resp.status == 200
    body = await resp.json()
    assert set(body) == ENVELOPE
    assert body["success"] is True and body["error"] is None
    data = body["data"]
    assert data["version"] == __version__
    assert data["database"] == {"ok": True, "message": "cacherr.db in order"}
    assert data["plex"]["state"] == "not_configured"
    assert 0 <= data["uptime_s"] < 60


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/api/nothing", 404, "not_found"),
        ("DELETE", "/api/health", 405, "method_not_allowed"),
    ],
)
async def test_errors_use_the_envelope(
    client: TestClient[Any, Any], method: str, path: str, status: int, code: str
) -> None:
    resp = await client.request(method, path)
    assert resp.status == status
    body = await resp.json()
    assert set(body) == ENVELOPE
    assert body["success"] is False
    assert body["error"]["code"] == code


async def test_the_page_and_its_files_are_served(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/")
    assert resp.status == 200
    assert "<title>Cacherr</title>" in await resp.text()
    for name in ("app.js", "style.css"):
        assert (await client.get(f"/static/{name}")).status == 200


async def test_a_second_app_on_the_same_folder_refuses_to_start(
    client: TestClient[Any, Any], config_dir: Path
) -> None:
    runner = web.AppRunner(create_app(ConfigStore.open(config_dir)))
    with pytest.raises(Conflict, match=rf"another Cacherr \(pid {os.getpid()}\)"):
        await runner.setup()
    await runner.cleanup()


async def _next(sub: events.Subscription, timeout_s: float = 10.0) -> events.Event:
    return await asyncio.wait_for(sub.get(), timeout_s)


def _save(path: Path, content: str | bytes) -> None:
    """Save as an editor does: a whole new file renamed over the old one (a reader never
    sees it half written, as it could a file truncated and rewritten in place)."""
    temp = path.with_name(path.name + ".saving")
    temp.write_bytes(content.encode() if isinstance(content, str) else content)
    temp.replace(path)


async def _first_edit(
    path: Path, content: bytes, sub: events.Subscription, timeout_s: float = 10.0
) -> events.Event:
    """Write `content` until the watcher answers: its inotify watch may not be set up yet.

    Writing the same content again is harmless: the watcher acts only on changed content.
    """
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        await asyncio.to_thread(_save, path, content)
        try:
            return await asyncio.wait_for(sub.get(), 0.5)
        except TimeoutError:
            assert asyncio.get_running_loop().time() < deadline, "the edit was never picked up"


Watched = tuple[TestClient[Any, Any], ConfigStore, events.Subscription]
POLLING = {"general": {"config_force_polling": True, "config_poll_interval_ms": 100}}


async def _watched(
    aiohttp_client: ClientFactory, config_dir: Path, patch: dict[str, Any] | None
) -> Watched:
    """The app on `config_dir` (with `patch` saved first), its watcher started, and a
    subscription to the reload outcomes."""
    store = ConfigStore.open(config_dir)
    if patch:
        store.save(patch)
    client = await aiohttp_client(create_app(store))
    sub = client.app[keys.BUS].subscribe({events.CONFIG_RELOADED, events.CONFIG_ERROR})
    return client, store, sub


@pytest.fixture(params=[False, True], ids=["inotify", "polling"])
async def watched(
    request: pytest.FixtureRequest, aiohttp_client: ClientFactory, config_dir: Path
) -> Watched:
    """`_watched` with the watcher on inotify, then on forced polling."""
    return await _watched(aiohttp_client, config_dir, POLLING if request.param else None)


async def test_an_edit_goes_live_and_a_broken_one_keeps_the_old_config(
    watched: Watched,
) -> None:
    client, store, sub = watched
    path = store.path

    data = json.loads(path.read_text())
    data["cache"]["next_episodes"] = 8
    event = await _first_edit(path, json.dumps(data).encode(), sub)
    assert event.type == events.CONFIG_RELOADED
    assert event.data["path"] == str(path)
    assert store.current.cache.next_episodes == 8

    _save(path, '{"cache": {"next_episodes": "eight"}')
    event = await _next(sub)
    assert event.type == events.CONFIG_ERROR
    assert any("line 1" in p for p in event.data["problems"])
    assert store.current.cache.next_episodes == 8
    assert (await client.get("/api/health")).status == 200

    data["cache"]["nxt_episodes"] = 1
    _save(path, json.dumps(data))
    event = await _next(sub)
    assert event.type == events.CONFIG_ERROR
    assert any(p.startswith("cache.nxt_episodes") for p in event.data["problems"])
    assert store.current.cache.next_episodes == 8


async def _config_health(client: TestClient[Any, Any]) -> dict[str, Any]:
    health: dict[str, Any] = (await (await client.get("/api/health")).json())["data"]
    return health


async def test_a_non_utf8_edit_is_reported_and_the_next_edit_still_applies(
    watched: Watched,
) -> None:
    client, store, sub = watched
    path = store.path

    data = json.loads(path.read_text())
    data["cache"]["next_episodes"] = 8
    event = await _first_edit(path, json.dumps(data).encode().replace(b"{", b"{\xff", 1), sub)
    assert event.type == events.CONFIG_ERROR
    assert any("utf-8" in p for p in event.data["problems"]), event.data
    health = await _config_health(client)
    assert (health["status"], health["config"]["ok"]) == ("degraded", False)
    assert "utf-8" in health["config"]["message"]
    assert store.current.cache.next_episodes == 5

    _save(path, json.dumps(data))
    event = await _next(sub)
    assert event.type == events.CONFIG_RELOADED
    assert store.current.cache.next_episodes == 8
    assert (await _config_health(client))["config"] == {
        "ok": True,
        "message": "cacherr.json in force",
    }


async def test_an_edit_with_a_mapping_start_up_would_refuse_keeps_the_old_config(
    aiohttp_client: ClientFactory, config_dir: Path, tmp_path: Path
) -> None:
    array, cache = tmp_path / "array", tmp_path / "cache"
    array.mkdir(), cache.mkdir()
    path = config_dir / CONFIG_NAME
    mapping = {"name": "tv", "plex": "/data", "array": str(array), "cache": str(cache)}
    client, store, sub = await _watched(
        aiohttp_client, config_dir, {"paths": {"mappings": [mapping]}}
    )

    data = json.loads(path.read_text())
    data["paths"]["mappings"][0]["cache"] = str(array)
    event = await _first_edit(path, json.dumps(data).encode(), sub)
    assert event.type == events.CONFIG_ERROR
    assert any("same folder" in p for p in event.data["problems"]), event.data
    assert store.current.paths.mappings[0].cache == str(cache)
    assert not (await _config_health(client))["config"]["ok"]
