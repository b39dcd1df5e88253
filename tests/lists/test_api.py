"""`/api/lists` through the real app: API key, validation, cacherr.json, refresh, items."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cacherr import keys
from cacherr.app import create_app
from cacherr.config import ConfigStore
from cacherr.fakeplex import FakePlexServer, World
from cacherr.sources.lists import holder

from . import samples
from .conftest import Providers, list_claims, settings_for

Client = TestClient[Any, Any]


class Api:
    """The app's client with the API key on every call."""

    def __init__(self, client: Client, key: str) -> None:
        self.client = client
        self.headers = {"X-Api-Key": key}

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        resp = await self.client.request(method, path, json=body, headers=self.headers)
        return resp.status, await resp.json()


@pytest.fixture
async def api(
    aiohttp_client: Callable[..., Awaitable[Client]],
    config_dir: Path,
    fake_plex: FakePlexServer,
    world: World,
    providers: Providers,
    tmp_path: Path,
) -> Api:
    document = settings_for(fake_plex, world, providers, tmp_path)
    del document["paths"]
    (config_dir / "cacherr.json").write_text(json.dumps(document))
    store = ConfigStore.open(config_dir)
    client = await aiohttp_client(create_app(store))
    await client.app[keys.PLEX].wait_settled(5)
    assert store.current.web.api_key is not None
    return Api(client, store.current.web.api_key.get_secret_value())


def saved(config_dir: Path) -> list[dict[str, Any]]:
    data = json.loads((config_dir / "cacherr.json").read_text())
    return list(data["lists"].get("definitions", []))


PICKS = {"name": "picks", "provider": "trakt", "source": "sean/picks", "max_items": 5}


async def test_the_api_key_is_required(api: Api) -> None:
    resp = await api.client.get("/api/lists")
    assert resp.status == 401
    resp = await api.client.get("/api/lists", headers={"X-Api-Key": "wrong"})
    assert resp.status == 401
    status, body = await api.call("GET", "/api/lists")
    assert status == 200 and body["success"] and body["data"] == []


async def test_create_read_update_delete(api: Api, config_dir: Path, providers: Providers) -> None:
    providers.json("/users/sean/lists/picks/items", samples.TRAKT_LIST_PAGE_1)
    status, body = await api.call("POST", "/api/lists", PICKS)
    assert status == 201, body
    assert body["data"]["name"] == "picks" and body["data"]["mode"] == "strict"
    assert [d["name"] for d in saved(config_dir)] == ["picks"]

    status, body = await api.call("POST", "/api/lists/picks/refresh")
    assert status == 200, body
    assert body["data"]["status"]["state"] == "ok"
    assert body["data"]["status"]["counts"]["matched"] == 2

    status, body = await api.call("GET", "/api/lists")
    assert [(d["name"], d["status"]["item_count"]) for d in body["data"]] == [("picks", 2)]
    status, body = await api.call("GET", "/api/lists/picks")
    assert status == 200 and body["data"]["source"] == "sean/picks"

    status, body = await api.call("GET", "/api/lists/picks/items")
    assert [(i["title"], i["match_state"]) for i in body["data"]["items"]] == [
        ("Inception", "matched"), ("Game of Thrones", "matched")]  # fmt: skip
    assert body["data"]["items"][0]["ids"] == {"imdb": "tt1375666", "tmdb": 27205}
    status, body = await api.call("GET", "/api/lists/picks/items?state=not_in_library")
    assert body["data"]["items"] == []
    status, body = await api.call("GET", "/api/lists/picks/items?state=bogus")
    assert status == 400 and body["error"]["details"][0]["field"] == "state"

    status, body = await api.call("PUT", "/api/lists/picks", {**PICKS, "max_items": 1})
    assert status == 200 and body["data"]["max_items"] == 1
    assert saved(config_dir)[0]["max_items"] == 1
    status, body = await api.call("PUT", "/api/lists/picks", {**PICKS, "name": "best"})
    assert status == 200 and [d["name"] for d in saved(config_dir)] == ["best"]
    status, _ = await api.call("GET", "/api/lists/picks")
    assert status == 404

    status, body = await api.call("DELETE", "/api/lists/best")
    assert status == 200 and saved(config_dir) == []
    status, body = await api.call("DELETE", "/api/lists/best")
    assert status == 404


async def test_invalid_definitions_get_field_level_errors(api: Api, config_dir: Path) -> None:
    bad = {"name": "", "provider": "netflix", "source": "x", "max_items": 0, "mode": "greedy",
           "fill_limit": "lots", "refresh_interval_s": 5, "colour": "red"}  # fmt: skip
    status, body = await api.call("POST", "/api/lists", bad)
    assert status == 400 and not body["success"]
    fields = {d["field"] for d in body["error"]["details"]}
    assert fields == {"name", "provider", "max_items", "mode", "fill_limit",
                      "refresh_interval_s", "colour"}  # fmt: skip
    status, body = await api.call("POST", "/api/lists", {**PICKS, "source": "nonsense"})
    assert status == 400
    assert body["error"]["details"] == [{"field": "source", "message": body["error"]["details"][0]
                                         ["message"]}]  # fmt: skip
    assert "Trakt source is" in body["error"]["details"][0]["message"]
    status, body = await api.call("POST", "/api/lists", "not an object")
    assert status == 400
    assert saved(config_dir) == []

    assert (await api.call("POST", "/api/lists", PICKS))[0] == 201
    status, body = await api.call("POST", "/api/lists", PICKS)
    assert status == 409 and body["error"]["details"][0]["field"] == "name"
    other = {**PICKS, "name": "other"}
    assert (await api.call("POST", "/api/lists", other))[0] == 201
    status, body = await api.call("PUT", "/api/lists/other", {**other, "name": "picks"})
    assert status == 409


async def test_a_failed_refresh_answers_502_and_keeps_the_claims(
    api: Api, providers: Providers
) -> None:
    providers.json("/users/sean/lists/picks/items", samples.TRAKT_LIST_PAGE_1)
    await api.call("POST", "/api/lists", PICKS)
    assert (await api.call("POST", "/api/lists/picks/refresh"))[0] == 200
    claims = await list_claims(api.client.app[keys.LISTS])
    assert {c.user_id for c in claims} == {holder("picks")}

    providers.text("/users/sean/lists/picks/items", "", status=401)
    status, body = await api.call("POST", "/api/lists/picks/refresh")
    assert status == 502 and body["error"]["code"] == "list_fetch_failed"
    assert "refused access (HTTP 401)" in body["message"]
    assert body["error"]["details"]["state"] == "failed"
    status, body = await api.call("GET", "/api/lists/picks")
    assert body["data"]["status"]["state"] == "failed"
    assert body["data"]["status"]["item_count"] == 2
    again = await list_claims(api.client.app[keys.LISTS])
    assert [c.key for c in again] == [c.key for c in claims]


async def test_a_url_with_a_token_is_never_sent_back(
    api: Api, config_dir: Path, providers: Providers
) -> None:
    providers.json("/private.json", ["tt1375666"])
    source = providers.url + "/private.json?token=s3cret"
    feed = {"name": "mine", "provider": "url", "source": source}
    status, body = await api.call("POST", "/api/lists", feed)
    assert status == 201 and "s3cret" not in json.dumps(body)
    status, body = await api.call("GET", "/api/lists")
    assert "s3cret" not in json.dumps(body)
    shown = body["data"][0]["source"]
    assert shown == providers.url + "/private.json?…"
    # The page sends the shown value back unchanged: the stored URL stays.
    status, body = await api.call("PUT", "/api/lists/mine", {**feed, "source": shown,
                                                              "max_items": 3})  # fmt: skip
    assert status == 200 and saved(config_dir)[0]["source"] == source
    status, body = await api.call("POST", "/api/lists/mine/refresh")
    assert status == 200 and body["data"]["status"]["counts"]["matched"] == 1
