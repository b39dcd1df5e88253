"""Socket.IO, an output port: every bus event goes to the connected pages as it happens.

Each event is emitted under its own name with the body `{type, timestamp, data}`. A client
that connects (or reconnects) first receives a `status` snapshot built from the registered
snapshot providers, then the deltas. Connecting needs the login session or the API key.

On stop the pages are disconnected in `on_shutdown`, before aiohttp waits for open requests:
a connected page would otherwise hold the stop for aiohttp's whole shutdown timeout, and
Docker kills the container 10 s after asking it to stop.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import socketio
from aiohttp import web

from cacherr import events, keys
from cacherr.security.sessions import COOKIE_NAME
from cacherr.tasks import cancel_and_wait

log = logging.getLogger(__name__)

SnapshotProvider = Callable[[], Awaitable[Any]]
_LIVE = "live"


class Realtime:
    """The Socket.IO server mounted on the aiohttp app, fed by the event bus."""

    def __init__(self, app: web.Application) -> None:
        self._app = app
        # Same-origin only (no CORS origins): the page is served by this very app.
        self.sio = socketio.AsyncServer(async_mode="aiohttp", logger=False, engineio_logger=False)
        self.sio.attach(app)
        self.sio.on("connect", self._on_connect)
        app.on_shutdown.append(self._disconnect_all)
        self._providers: dict[str, SnapshotProvider] = {}
        self._task: asyncio.Task[None] | None = None
        self.add_snapshot("health", self._health)

    def add_snapshot(self, name: str, provider: SnapshotProvider) -> None:
        """Include `await provider()` under `name` in every new client's snapshot."""
        self._providers[name] = provider

    async def snapshot(self) -> dict[str, Any]:
        """The state a client starts from."""
        data: dict[str, Any] = {}
        for name, provider in self._providers.items():
            try:
                data[name] = await provider()
            except Exception:
                log.exception("Snapshot part %s failed", name)
                data[name] = None
        return data

    async def _health(self) -> dict[str, Any]:
        return {
            "uptime_s": round(keys.now(self._app) - self._app[keys.STARTED_AT], 3),
            "plex": self._app[keys.PLEX_STATUS].as_dict(),
        }

    async def _authorised(self, environ: dict[str, Any], auth: Any) -> bool:
        request: web.Request = environ["aiohttp.request"]
        web_config = self._app[keys.CONFIG].current.web
        if web_config.auth == "none":
            return True
        given = (auth or {}).get("apikey") if isinstance(auth, dict) else None
        given = given or request.headers.get("X-Api-Key") or request.query.get("apikey")
        if isinstance(given, str) and web_config.api_key is not None:
            expected = web_config.api_key.get_secret_value()
            if hmac.compare_digest(given.encode(), expected.encode()):
                return True
        token = request.cookies.get(COOKIE_NAME, "")
        return bool(token) and await self._app[keys.SESSIONS].get(token) is not None

    async def _on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        if not await self._authorised(environ, auth):
            raise socketio.exceptions.ConnectionRefusedError("log in or send the API key")
        body = events.Status(parts=await self.snapshot()).wire()
        await self.sio.emit(events.STATUS, body, to=sid)
        # Deltas go to the "live" room only, so a client sees its snapshot first.
        await self.sio.enter_room(sid, _LIVE)

    async def start(self) -> None:
        """Begin forwarding bus events."""
        subscription = self._app[keys.BUS].subscribe(maxsize=5000)
        self._task = asyncio.create_task(self._forward(subscription), name="socketio-forward")

    async def _forward(self, subscription: events.Subscription) -> None:
        try:
            async for event in subscription:
                if not self._watched():
                    continue  # no page to tell: not even the body is made (bursts are busy)
                try:
                    await self.sio.emit(event.type, event.wire(), to=_LIVE)
                except Exception:
                    log.exception("Could not emit %s to the page", event.type)
        finally:
            subscription.close()

    def _watched(self) -> bool:
        """Whether a page is in the live room (what an emit to it would reach)."""
        return next(iter(self.sio.manager.get_participants("/", _LIVE)), None) is not None

    async def close(self) -> None:
        """Stop forwarding (the clients were disconnected at shutdown)."""
        await cancel_and_wait(self._task)

    async def _disconnect_all(self, _app: web.Application) -> None:
        await self.sio.shutdown()
        # Each page is sent a CLOSE packet without waiting for it to be read: engine.io's own
        # disconnect waits for that, for ever if a polling client has stopped polling.
        sockets, self.sio.eio.sockets = list(self.sio.eio.sockets.values()), {}
        for sock in sockets:
            try:
                await sock.close(wait=False)
            except Exception:
                log.debug("A page's connection could not be closed cleanly", exc_info=True)


REALTIME = web.AppKey("realtime", Realtime)
