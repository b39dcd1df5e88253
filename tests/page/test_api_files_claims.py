"""`/api/files` (search, sort, why cached), `/api/claims` and the eviction simulation."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cacherr.config import ConfigStore
from cacherr.db import Database

Client = TestClient[Any, Any]


async def files(api: Client, query: str = "") -> dict[str, Any]:
    resp = await api.get(f"/api/files{query}")
    assert resp.status == 200, await resp.text()
    data: dict[str, Any] = (await resp.json())["data"]
    return data


async def test_files_with_their_claims(api: Client, seeded: Database) -> None:
    data = await files(api)
    assert data["total"] == 3
    first = data["items"][0]  # highest priority first by default
    assert first["name"] == "S01E03.mkv"
    assert {c["user"] for c in first["claims"]} == {"alice", "bob"}
    assert any(c["reason"] == "on deck for bob" for c in first["claims"])
    movie = next(i for i in data["items"] if i["name"] == "Movie.mkv")
    assert movie["claims"] == []
    assert movie["priority"] is None
    assert movie["returns_at"] is not None  # unclaimed: retention runs


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("?sort=size&order=desc", ["Movie.mkv", "S01E02.mkv", "S01E03.mkv"]),
        ("?sort=size&order=asc", ["S01E03.mkv", "S01E02.mkv", "Movie.mkv"]),
        ("?sort=age&order=desc", ["Movie.mkv", "S01E03.mkv", "S01E02.mkv"]),
        ("?sort=user&order=asc", ["S01E02.mkv", "S01E03.mkv", "Movie.mkv"]),
        ("?q=movie", ["Movie.mkv"]),
        ("?q=bob", ["S01E03.mkv"]),
        ("?user=22", ["S01E03.mkv"]),
        ("?sort=size&limit=1&offset=1", ["S01E02.mkv"]),
    ],
)
async def test_files_search_sort_page(
    api: Client, seeded: Database, query: str, names: list[str]
) -> None:
    assert [i["name"] for i in (await files(api, query))["items"]] == names


@pytest.mark.parametrize("query", ["?sort=colour", "?limit=0", "?limit=x", "?order=up"])
async def test_files_refuse_bad_parameters(api: Client, query: str) -> None:
    resp = await api.get(f"/api/files{query}")
    assert resp.status == 400
    body = await resp.json()
    assert body["success"] is False
    assert body["error"]["code"] == "bad_request"


async def test_claims_by_priority(api: Client, seeded: Database) -> None:
    data = (await (await api.get("/api/claims")).json())["data"]
    assert data["total"] == 3
    priorities = [c["live_priority"] for c in data["items"]]
    assert priorities == sorted(priorities, reverse=True)
    assert all(c["cached"] for c in data["items"])
    assert data["weights"]["source"]["next_up"] == 600
    only = (await (await api.get("/api/claims?source=ondeck")).json())["data"]
    assert [c["user"] for c in only["items"]] == ["bob"]
    assert (await api.get("/api/claims?source=nope")).status == 400


async def test_simulate_eviction(api: Client, api_store: ConfigStore, seeded: Database) -> None:
    assert (await api.get("/api/claims/simulate")).status == 400
    assert (await api.get("/api/claims/simulate?size_bytes=1&priority=high")).status == 400
    fits = (await (await api.get("/api/claims/simulate?size_bytes=1000")).json())["data"]
    assert fits["fits"] is True
    assert fits["evicted"] == []
    api_store.save({"cache": {"limit": "10000B", "min_free": "0B"}})
    data = (await (await api.get("/api/claims/simulate?size_bytes=3000")).json())["data"]
    assert data["fits"] is True
    # The unclaimed movie leaves first; claimed files stay while that is enough.
    assert [e["path"] for e in data["evicted"]] == ["/data/tv/Movie (2020)/Movie.mkv"]
    low = await (await api.get("/api/claims/simulate?size_bytes=9000&priority=1")).json()
    assert low["data"]["fits"] is False
    assert low["data"]["missing_bytes"] > 0
