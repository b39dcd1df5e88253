"""`/api/status`, `/api/stats`, its history, and the webhook URLs (POST only, page only)."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from cacherr import events, keys
from cacherr.config import ConfigStore
from cacherr.db import Database
from cacherr.security import setup_code

Client = TestClient[Any, Any]
PASSWORD = "correct horse battery"


def origin(client: Client) -> dict[str, str]:
    url = client.make_url("/")
    return {"Origin": f"{url.scheme}://{url.host}:{url.port}"}


async def test_status_counts_and_warnings(api: Client, seeded: Database) -> None:
    body = await (await api.get("/api/status")).json()
    data = body["data"]
    assert body["success"] is True
    assert data["counts"] == {
        "files_cached": 3,
        "files_in_flight": 0,
        "files_claimed": 2,  # S01E03 is claimed twice, counted once
        "users": 2,
        "pins": 0,
    }
    assert data["plex"]["state"] == "not_configured"
    assert data["sweep"]["state"] in ("unavailable", "idle", "running")
    assert {w["code"] for w in data["warnings"]} == {"plex_not_configured"}
    assert "secret=" not in str(data)


async def test_status_counts_are_read_again_only_after_a_write(
    api: Client, seeded: Database
) -> None:
    """Asked for again with nothing written since, the status answers from its last read
    (no trip to the database); once anything is written, the counts are read again."""
    glances: list[str] = []
    assert seeded._reader is not None
    await seeded._reader.set_trace_callback(
        lambda sql: glances.append(sql) if "COUNT(*) FROM pins" in sql else None
    )

    async def counts() -> dict[str, int]:
        return (await (await api.get("/api/status")).json())["data"]["counts"]

    first = await counts()
    assert await counts() == first
    assert len(glances) == 1
    await seeded.execute(
        "INSERT INTO users (id, username, title, kind, updated_at) VALUES (?, ?, ?, ?, ?)",
        ("77", "carol", "Carol", "shared", 0.0),
    )
    assert await counts() == {**first, "users": first["users"] + 1}
    assert len(glances) == 2
    await seeded._reader.set_trace_callback(None)


async def test_auth_none_is_warned(api: Client, api_store: ConfigStore) -> None:
    api_store.save({"web": {"auth": "none"}})
    data = (await (await api.get("/api/status")).json())["data"]
    assert "auth_none" in {w["code"] for w in data["warnings"]}


async def test_webhook_urls_only_by_post_from_a_person(api: Client, api_store: ConfigStore) -> None:
    assert (await api.get("/api/security/webhook-urls")).status == 405
    by_key = await api.post("/api/security/webhook-urls")
    assert by_key.status == 403
    resp = await api.post(
        "/api/auth/setup",
        json={
            "username": "admin",
            "password": PASSWORD,
            "code": setup_code.read(api_store.config_dir),
        },
        headers={**origin(api), "X-Api-Key": ""},
    )
    assert resp.status == 200, await resp.text()
    api.session.headers.pop("X-Api-Key", None)
    urls = await api.post("/api/security/webhook-urls", headers=origin(api))
    assert urls.status == 200, await urls.text()
    data = (await urls.json())["data"]
    secret = api_store.current.webhook.secret
    assert secret is not None
    host = f"{api.make_url('/').host}:{api.make_url('/').port}"
    assert data["plex"] == f"http://{host}/api/webhooks/plex?secret={secret.get_secret_value()}"
    assert data["tautulli"].endswith(f"/api/webhooks/tautulli?secret={secret.get_secret_value()}")


async def test_stats_by_source_and_user(api: Client, seeded: Database) -> None:
    data = (await (await api.get("/api/stats")).json())["data"]
    usage = data["usage"]
    assert usage["used_bytes"] == 10_000
    assert usage["files"] == 3
    assert usage["total_bytes"] > 0
    assert usage["limit_bytes"] == usage["total_bytes"]  # limit 100%
    by_source = {row["source"]: row for row in data["by_source"]}
    assert by_source["next_up"] == {"source": "next_up", "files": 2, "bytes": 5000}
    assert by_source["ondeck"]["bytes"] == 2000
    by_user = {row["user"]: row for row in data["by_user"]}
    assert by_user["alice"]["files"] == 2
    assert by_user["bob"]["bytes"] == 2000
    assert data["unclaimed"] == {"files": 1, "bytes": 5000}
    assert data["disks_spared"]["count"] is None  # not an Unraid layout: explained instead
    assert data["disks_spared"]["explanation"]


async def test_history_points_and_range(api: Client, seeded: Database) -> None:
    sampler = api.app[keys.USAGE]
    sub = api.app[keys.BUS].subscribe({events.STATS})
    await sampler.sample()
    assert (sub.get_nowait()).data["used_bytes"] == 10_000
    for range_ in ("24h", "7d"):
        data = (await (await api.get(f"/api/stats/history?range={range_}")).json())["data"]
        assert data["range"] == range_
        assert data["points"][-1]["used_bytes"] == 10_000
    bad = await api.get("/api/stats/history?range=1y")
    assert bad.status == 400
    assert "range" in (await bad.json())["message"]
