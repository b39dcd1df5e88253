"""Socket.IO: credentials on connect, a snapshot first, then every bus event."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
import socketio
from aiohttp.test_utils import TestClient

from cacherr import events
from cacherr.config import ConfigStore

Client = TestClient[Any, Any]


async def _connect(client: Client, **kw: Any) -> tuple[socketio.AsyncClient, asyncio.Queue[Any]]:
    received: asyncio.Queue[Any] = asyncio.Queue()
    sio = socketio.AsyncClient(reconnection=False)

    @sio.on("*")
    async def _any(name: str, body: Any) -> None:
        await received.put((name, body))

    await sio.connect(str(client.make_url("/")), transports=["websocket"], **kw)
    return sio, received


async def test_a_connection_without_credentials_is_refused(client: Client) -> None:
    with pytest.raises(socketio.exceptions.ConnectionError):
        await _connect(client)


async def test_snapshot_first_then_deltas(client: Client, store: ConfigStore) -> None:
    assert store.current.web.api_key is not None
    key = store.current.web.api_key.get_secret_value()
    sio, received = await _connect(client, auth={"apikey": key})
    try:
        name, body = await asyncio.wait_for(received.get(), 5)
        assert name == events.STATUS
        assert set(body) == {"type", "timestamp", "data"}
        assert body["data"]["health"]["plex"]["state"] == "not_configured"
        assert body["data"]["stats"]["limit_bytes"] == 0  # the usage point's fields, no envelope
        # A warning in the log is a `log` event, forwarded as it happens.
        logging.getLogger("cacherr.test").warning("the pool is %s", "slow")
        name, body = await asyncio.wait_for(received.get(), 5)
        assert name == events.LOG
        assert body["type"] == events.LOG
        assert set(body) == {"type", "timestamp", "data"}
        assert body["data"] == {
            "level": "WARNING",
            "logger": "cacherr.test",
            "message": "the pool is slow",
        }
    finally:
        await sio.disconnect()


async def test_a_wrong_key_is_refused(client: Client) -> None:
    with pytest.raises(socketio.exceptions.ConnectionError):
        await _connect(client, auth={"apikey": "wrong"})
