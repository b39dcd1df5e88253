"""`/api/users` with per-user settings, `/api/operations`, `/api/activity`."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from cacherr import keys
from cacherr.config import ConfigStore
from cacherr.db import Database
from cacherr.executor.queue import Executor
from cacherr.files.paths import PathResolver
from tests.waiting import until

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


async def test_a_running_copy_shows_its_progress(
    api: Client, api_store: ConfigStore, media: dict[str, Path]
) -> None:
    """A real copy held to 2 MiB/s: `/api/operations` shows its bytes as the executor reports."""
    size = 3 * 1024 * 1024
    (media["array"] / "x.mkv").write_bytes(b"x" * size)
    api_store.save({"cache": {"copy_limit_mib_s": 2}})
    app = api.app
    executor = Executor(app[keys.DB], app[keys.BUS], lambda: api_store.current,
                        progress_interval_s=0.05, chunk_bytes=64 * 1024)  # fmt: skip
    await executor.start()
    try:
        resolver = PathResolver(api_store.current.paths.mappings)
        op = executor.submit("cache", resolver.from_plex("/data/tv/x.mkv"))
        deadline = asyncio.get_running_loop().time() + 10
        while True:
            active = (await (await api.get("/api/operations")).json())["data"]["active"]
            moving = [a for a in active if a["id"] == op.id and a["bytes_done"]]
            if moving and moving[0]["bytes_done"] < size:
                break
            assert asyncio.get_running_loop().time() < deadline, active
            await asyncio.sleep(0.02)
        (running,) = moving
        assert (running["kind"], running["path"], running["size"]) == (
            "cache",
            "/data/tv/x.mkv",
            size,
        )
        assert running["speed_bps"] > 0 and running["eta_s"] > 0
        await executor.run_until_idle()
    finally:
        await executor.close()
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
    # A copy of a file that is not on the array fails: the executor says so.
    app = api.app
    executor = Executor(app[keys.DB], app[keys.BUS], lambda: api_store.current)
    await executor.start()
    resolver = PathResolver(api_store.current.paths.mappings)
    executor.submit("cache", resolver.from_plex("/data/tv/a.mkv"))
    await executor.run_until_idle()
    await executor.close()
    logging.getLogger("cacherr.test").warning("Plex said no to %s", "plex-token-c0ffee-0001")
    items = await _wait_for_activity(api, 3)
    # Newest first: the masked warning, the failed copy, the executor's warning about it.
    assert [i["type"] for i in items] == ["log", "operation_complete", "log"]
    assert "a.mkv does not exist" in items[2]["message"]
    assert items[0]["level"] == "warning"
    assert "plex-token-c0ffee-0001" not in items[0]["message"]
    assert items[0]["message"] == "Plex said no to ********"
    assert items[1]["level"] == "error"
    assert "Cached failed for /data/tv/a.mkv" in items[1]["message"]
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
        logging.getLogger("cacherr.test").warning("low %d", n)
    await _wait_for_activity(api, 30)
    log = type(activity)(db, api.app[keys.BUS], max_rows=10)
    await log.prune()
    row = await db.fetchone("SELECT COUNT(*) FROM activity")
    assert row is not None
    assert row[0] == 10
    newest = await db.fetchone("SELECT message FROM activity WHERE type = 'log' ORDER BY id DESC")
    assert newest is not None
    assert newest[0] == "low 29"


async def test_a_burst_of_activity_is_stored_in_a_few_commits(api: Client) -> None:
    """A burst of plays finishes hundreds of copies at once; each line in a commit of its
    own kept the database writer, which the journal and the claims wait for, busy for a
    second. What arrives together is stored together, in order."""
    db = api.app[keys.DB]
    transactions: set[int] = set()  # each transaction (or lone write) that stored lines
    opened = 0

    def count(statement: str) -> None:
        nonlocal opened
        text = statement.lstrip().upper()
        if text.startswith("BEGIN"):
            opened += 1
        elif text.startswith("INSERT INTO ACTIVITY"):
            # Inside a transaction: that one (other writers may share it); else its own.
            transactions.add(opened if db.conn.in_transaction else -len(transactions) - 1)

    await db.conn.set_trace_callback(count)
    for n in range(300):  # the log forwarder publishes each as the page's feed takes it
        logging.getLogger("cacherr.test").warning("burst %d", n)
    sql = "SELECT message FROM activity WHERE message LIKE 'burst %' ORDER BY id"
    stored = await until(lambda: _stored(db, sql, 300))
    await db.conn.set_trace_callback(None)
    assert stored == [f"burst {n}" for n in range(300)]
    assert len(transactions) <= 5


async def _stored(db: Database, sql: str, count: int) -> list[str] | None:
    rows = [r[0] for r in await db.fetchall(sql)]
    return rows if len(rows) >= count else None
