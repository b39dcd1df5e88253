"""The gateway inside the real app: /api/health shows the real Plex state."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

from cacherr import keys
from cacherr.app import create_app
from cacherr.config import ConfigStore
from cacherr.fakeplex import FakePlexServer, World
from cacherr.plex.errors import PlexUnavailable


async def plex_state(client: Any) -> str:
    resp = await client.get("/api/health")
    body = await resp.json()
    return str(body["data"]["plex"]["state"])


async def test_health_shows_the_real_plex_state(
    aiohttp_client: Any, config_dir: Path, fake: FakePlexServer, world: World
) -> None:
    plex = {"url": fake.url, "token": world.owner.token, "plextv_url": fake.plextv_url,
            "timeout_s": 1, "retries": 0}  # fmt: skip
    (config_dir / "cacherr.json").write_text(json.dumps({"plex": plex}))
    client = await aiohttp_client(create_app(ConfigStore.open(config_dir)))
    gateway = client.app[keys.PLEX]
    assert await gateway.wait_settled(5) == "connected"
    assert await plex_state(client) == "connected"
    await fake.stop_listening()
    with contextlib.suppress(PlexUnavailable):
        await client.app[keys.PLEX_LIBRARY].sections()
    for _ in range(100):
        if await plex_state(client) == "down":
            break
        await asyncio.sleep(0.02)
    assert await plex_state(client) == "down"
    await fake.resume_listening()


async def test_users_page_says_where_each_users_ondeck_comes_from(
    aiohttp_client: Any, config_dir: Path, fake: FakePlexServer, world: World
) -> None:
    """Invited users get no server token from plex.tv since 2026-03 (JellyPlex-Watched #341):
    the Users API names the source per user, with the fix when there is none."""
    store = ConfigStore.open(config_dir)
    plex = {"url": fake.url, "token": world.owner.token, "plextv_url": fake.plextv_url,
            "plextv_min_interval_ms": 0}  # fmt: skip
    store.save({"plex": plex})
    assert store.current.web.api_key is not None
    key = {"X-Api-Key": store.current.web.api_key.get_secret_value()}
    client = await aiohttp_client(create_app(store), headers=key)
    assert await client.app[keys.PLEX].wait_settled(5) == "connected"
    resp = await client.post("/api/users/refresh")
    assert resp.status == 200, await resp.text()
    found = {u["name"]: u["ondeck_source"] for u in (await resp.json())["data"]}
    assert found["alice"]["source"] == "token"
    assert found["bob"]["source"] == "none"
    assert "plex.database_path" in found["bob"]["fix"]
    store.save({"plex": {"database_path": str(config_dir / "com.plexapp.plugins.library.db")}})
    data = (await (await client.get("/api/users")).json())["data"]
    assert {u["name"]: u["ondeck_source"]["source"] for u in data}["bob"] == "database"


async def test_one_plex_client_identifier_per_install(
    aiohttp_client: Any, config_dir: Path, fake: FakePlexServer, world: World
) -> None:
    """plexapi's default X-Plex-Client-Identifier derives from the MAC address (plexapi
    X_PLEX_IDENTIFIER = hex(getnode())), which a recreated container changes: Cacherr keeps
    its own in the config folder, so plex.tv sees one device across restarts."""
    plex = {"url": fake.url, "token": world.owner.token, "plextv_url": fake.plextv_url}
    (config_dir / "cacherr.json").write_text(json.dumps({"plex": plex}))
    for _ in range(2):  # the same config folder: a recreated container
        client = await aiohttp_client(create_app(ConfigStore.open(config_dir)))
        assert await client.app[keys.PLEX].wait_settled(5) == "connected"
        await client.app[keys.PLEX_USERS].refresh()  # plex.tv too
        await client.close()
    saved = (config_dir / "plex_client_id").read_text().strip()
    assert set(fake.counter.clients) == {saved}
    assert fake.counter.clients[saved] >= 4
