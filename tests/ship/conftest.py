"""Fixtures of the shipping tests: a local apprise `json://` receiver and a dead port."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.foundation.test_cli import free_port


class Receiver:
    """An HTTP endpoint apprise's `json://` service posts to; records every message."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.gate = asyncio.Event()  # clear it to hold every request until it is set again
        self.gate.set()
        self.requests = 0
        self.port = 0
        self._arrived = asyncio.Condition()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        return app

    def url(self, path: str = "hook", auth: str = "") -> str:
        """The apprise URL of this receiver (`auth` as `user:password`)."""
        at = f"{auth}@" if auth else ""
        return f"json://{at}127.0.0.1:{self.port}/{path}"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        async with self._arrived:
            self.requests += 1
            self._arrived.notify_all()
        await self.gate.wait()
        async with self._arrived:
            self.messages.append(body)
            self.headers.append(dict(request.headers))
            self._arrived.notify_all()
        return web.json_response({"ok": True})

    async def wait_for_requests(self, count: int, timeout_s: float = 10.0) -> None:
        """Until `count` requests arrived (answered or still held at the gate)."""
        async with asyncio.timeout(timeout_s), self._arrived:
            await self._arrived.wait_for(lambda: self.requests >= count)

    async def wait_for(self, count: int, timeout_s: float = 10.0) -> None:
        """Until `count` messages arrived."""
        async with asyncio.timeout(timeout_s), self._arrived:
            await self._arrived.wait_for(lambda: len(self.messages) >= count)


@pytest.fixture
async def receiver(
    aiohttp_server: Callable[[web.Application], Awaitable[TestServer]],
) -> Receiver:
    """A running receiver on a free local port."""
    rec = Receiver()
    server = await aiohttp_server(rec.app())
    assert server.port is not None
    rec.port = server.port
    return rec


@pytest.fixture
def dead_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    return free_port()
