"""`/api/users` with per-user settings, `/api/operations`, `/api/activity`."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiohttp.test_utils import TestClient

from cacherr import events, keys
from cacherr.config import ConfigStore
from cacherr.db import Database

Client = TestClient[Any, Any]


async def test_users_with_effective_settings(api: Client, seeded: Database) -> None:
    data = (await (await api.get("/api/users")).json())["data"]
    assert [u["name"] for u in data] == ["alice", "bob"]
    alice, bob = data
    assert alice["kind"] == "main"
    assert alice["policy"]["episodes_ahead"] == 5
    assert alice["cached_files"] == 2
    assert bob["policy"]["watchlist"] is False  # shared users' default
    assert bob["override"] == {}


async def test_user_override_saved_to_the_file(
    api: Client, api_store: ConfigStore, seeded: Database
) -> None:
    resp = await api.put("/api/users/bob/settings", json={"watchlist": True, "episodes_ahead": 2})
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["data"]["override"] == {"watchlist": True, "episodes_ahead": 2}
    on_disk = json.loads(api_store.path.read_text())["users"]["overrides"]["bob"]
    assert on_disk["watchlist"] is True
    bob = (await (await api.get("/api/users")).json())["data"][1]
    assert bob["policy"]["watchlist"] is True
    assert bob["policy"]["episodes_ahead"] == 2
    bad = await api.put("/api/users/bob/settings", json={"episodes_ahead": 500})
    assert bad.status == 400
    assert (await bad.json())["error"]["details"][0]["field"] == "episodes_ahead"
    extra = await api.put("/api/users/bob/settings", json={"colour": "red"})
    assert extra.status == 400


async def test_refresh_without_plex_explains(api: Client) -> None:
    resp = await api.post("/api/users/refresh")
    assert resp.status == 503
    assert "Plex" in (await resp.json())["message"]


async def test_operations_history_and_live_progress(api: Client, seeded: Database) -> None:
    data = (await (await api.get("/api/operations")).json())["data"]
    assert data["active"] == []
    history = data["history"]
    assert history["total"] == 2
    assert [i["state"] for i in history["items"]] == ["failed", "done"]
    assert history["items"][0]["error"] == "disk on fire"
    assert history["items"][1]["path"] == "/data/tv/Show/S01E02.mkv"
    failed = (await (await api.get("/api/operations?state=failed")).json())["data"]
    assert failed["history"]["total"] == 1
    paged = (await (await api.get("/api/operations?limit=1&offset=1")).json())["data"]
    assert [i["kind"] for i in paged["history"]["items"]] == ["cache"]
    assert (await api.get("/api/operations?state=sleeping")).status == 400
    bus = api.app[keys.BUS]
    bus.publish(events.OPERATION_STARTED, id=41, kind="cache", path="/data/tv/x.mkv")
    bus.publish(
        events.OPERATION_PROGRESS, id=41, kind="cache", path="/data/tv/x.mkv",
        bytes_done=50, size=200, speed_bps=10, eta_s=15.0,
    )  # fmt: skip
    active = (await (await api.get("/api/operations")).json())["data"]["active"]
    assert [(a["id"], a["bytes_done"], a["size"], a["eta_s"]) for a in active] == [
        (41, 50, 200, 15.0)
    ]
    bus.publish(
        events.OPERATION_COMPLETE, id=41, kind="cache", path="/data/tv/x.mkv", result="done"
    )
    assert (await (await api.get("/api/operations")).json())["data"]["active"] == []


MINE = ("log", "operation_complete")


async def _wait_for_activity(api: Client, count: int) -> list[dict[str, Any]]:
    """The activity lines of the types this test publishes (the app may add its own)."""
    for _ in range(200):
        body = await (await api.get("/api/activity")).json()
        items = [i for i in body["data"]["items"] if i["type"] in MINE]
        if len(items) >= count:
            return items
        await asyncio.sleep(0.01)
    raise AssertionError(f"only {len(items)} activity lines")


async def test_activity_feed_and_masked_warnings(api: Client, api_store: ConfigStore) -> None:
    bus = api.app[keys.BUS]
    bus.publish(events.OPERATION_PROGRESS, id=1, bytes_done=1, size=2)  # too noisy: not stored
    bus.publish(
        events.OPERATION_COMPLETE, id=1, kind="cache", path="/data/tv/a.mkv", result="failed",
        error="no space",
    )  # fmt: skip
    logging.getLogger("cacherr.test").warning("Plex said no to %s", "plex-token-c0ffee-0001")
    items = await _wait_for_activity(api, 2)
    assert [i["type"] for i in items] == ["log", "operation_complete"]
    assert items[0]["level"] == "warning"
    assert "plex-token-c0ffee-0001" not in items[0]["message"]
    assert items[0]["message"] == "Plex said no to ********"
    assert items[1]["level"] == "error"
    assert "no space" in items[1]["message"]
    older = (await (await api.get(f"/api/activity?before={items[0]['id']}")).json())["data"]
    assert items[1]["id"] in [i["id"] for i in older["items"]]
    assert items[0]["id"] not in [i["id"] for i in older["items"]]
    errors = (await (await api.get("/api/activity?level=error")).json())["data"]["items"]
    assert items[1]["id"] in [i["id"] for i in errors]
    assert all(i["level"] == "error" for i in errors)
    assert (await api.get("/api/activity?level=loud")).status == 400


async def test_activity_keeps_a_bounded_number_of_lines(api: Client) -> None:
    activity = api.app[keys.ACTIVITY]
    db = api.app[keys.DB]
    for n in range(30):
        await activity.store(events.Event(events.LOW_SPACE, {"message": f"low {n}"}))
    log = type(activity)(db, api.app[keys.BUS], max_rows=10)
    await log.prune()
    row = await db.fetchone("SELECT COUNT(*) FROM activity")
    assert row is not None
    assert row[0] == 10
    newest = await db.fetchone("SELECT message FROM activity ORDER BY id DESC LIMIT 1")
    assert newest is not None
    assert newest[0] == "low 29"
