"""`/:/websockets/notifications`: the simulated Plex's notification socket (owner token only).

Each connection hears the world's session notices (`notifications.py`) as JSON text frames,
pushed from whichever thread changed the world. `World.drop_notification_sockets()` hangs up
every connection, the way a restarting Plex does, so reconnects can be tested.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import WSCloseCode, web

from .keys import WORLD, require_owner

_OPEN = web.AppKey[set[web.WebSocketResponse]]("fakeplex_sockets")


async def notifications(request: web.Request) -> web.WebSocketResponse:
    """Accept the socket, then forward every notice until the world hangs up or the peer goes."""
    require_owner(request)
    world = request.app[WORLD]
    ws = web.WebSocketResponse(heartbeat=30.0)
    await ws.prepare(request)
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    def hear(notice: dict[str, Any] | None) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, notice)

    stop = world.listen(hear)
    reader = asyncio.create_task(_drain(ws))
    request.app[_OPEN].add(ws)
    try:
        while not ws.closed:
            getter = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                break
            notice = getter.result()
            if notice is None:
                break
            await ws.send_str(json.dumps(notice))
    finally:
        request.app[_OPEN].discard(ws)
        stop()
        reader.cancel()
        await ws.close()
    return ws


async def _drain(ws: web.WebSocketResponse) -> None:
    # Reading keeps pings answered and notices a peer that left.
    async for _ in ws:
        pass


async def _close_all(app: web.Application) -> None:
    # A server shutting down says goodbye on every socket instead of waiting for the peers.
    opened: set[web.WebSocketResponse] = app[_OPEN]
    for ws in list(opened):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"Server shutdown")


def add_websocket_routes(app: web.Application) -> None:
    """Register the notification socket."""
    opened: set[web.WebSocketResponse] = set()
    app[_OPEN] = opened
    app.on_shutdown.append(_close_all)
    app.router.add_get("/:/websockets/notifications", notifications)
