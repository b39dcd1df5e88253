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
