"""`/api/lists` refuses a list its provider will not answer without an account key, saying
where to get one; nothing is saved."""

from __future__ import annotations

from pathlib import Path

import pytest

from cacherr.app import create_app
from cacherr.config import ConfigStore
from tests.page.conftest import ClientFactory, headers


@pytest.mark.parametrize(
    ("provider", "source", "fix"),
    [
        ("trakt", "sean/picks", "https://trakt.tv/oauth/applications"),
        ("tmdb", "popular/movies", "https://www.themoviedb.org/settings/api"),
    ],
)
async def test_a_list_without_its_providers_key_is_refused(
    aiohttp_client: ClientFactory, config_dir: Path, provider: str, source: str, fix: str
) -> None:
    store = ConfigStore.open(config_dir)
    client = await aiohttp_client(create_app(store), headers=headers(store))
    new = {"name": "picks", "provider": provider, "source": source}
    resp = await client.post("/api/lists", json=new)
    body = await resp.json()
    assert resp.status == 400, body
    [detail] = body["error"]["details"]
    assert detail["field"] == "provider" and fix in detail["message"]
    assert "Settings → List providers" in detail["message"]
    assert store.current.lists.definitions == []
