"""Helpers of the end-to-end tests: webhooks as Plex sends them, waiting for the work."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestClient

from cacherr import keys
from cacherr.events import Event
from cacherr.fakeplex import Episode, Movie, User, webhooks

Client = TestClient[Any, Any]
AppFactory = Callable[..., Awaitable[Client]]


class Clock:
    """The wall clock the reactor and the planner read; a test moves it by hand (and with it
    whatever waits for a time on it: `sleep` is the app's `keys.SLEEP`)."""

    def __init__(self) -> None:
        self.now = time.time()
        self._moved: asyncio.Event | None = None

    def __call__(self) -> float:
        return self.now

    def advance(self, hours: float) -> None:
        self.now += hours * 3600
        if self._moved is not None:
            self._moved.set()
            self._moved = None

    async def sleep(self, seconds: float) -> None:
        """Return once the clock has been moved `seconds` on."""
        until = self.now + seconds
        while self.now < until:
            if self._moved is None:
                self._moved = asyncio.Event()
            await self._moved.wait()


async def settle(client: Client) -> None:
    """Every queued reaction handled and every operation it started finished."""
    app = client.app
    await app[keys.REACTOR].run_until_idle()
    await app[keys.SWEEPER].run_until_idle()
    await app[keys.CACHE_ENGINE].run_until_idle()


async def send(client: Client, event: str, item: Episode | Movie, user: User) -> None:
    """POST a Plex webhook, as Plex does (secret in the URL), and wait for what it started."""
    store = client.app[keys.CONFIG].current
    server = await client.app[keys.PLEX].machine_identifier()  # the Plex the daemon uses
    assert store.webhook.secret is not None
    resp = await client.post(
        "/api/webhooks/plex",
        params={"secret": store.webhook.secret.get_secret_value()},
        data=webhooks.form(webhooks.payload(event, user, item, server_uuid=server)),
    )
    assert resp.status == 202, await resp.text()
    await settle(client)


def api_key(client: Client) -> dict[str, str]:
    """Headers with the API key."""
    secret = client.app[keys.CONFIG].current.web.api_key
    assert secret is not None
    return {"X-Api-Key": secret.get_secret_value()}


class Events:
    """Every bus event, in order."""

    def __init__(self, client: Client) -> None:
        self.all: list[Event] = []
        client.app[keys.BUS].listen(self.all.append)

    def of(self, type_: str) -> list[dict[str, Any]]:
        return [e.data for e in self.all if e.type == type_]
