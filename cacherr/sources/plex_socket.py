"""Plex's notification socket as a trigger: a play heard within milliseconds, no Plex Pass needed.

A Plex Media Server pushes notifications to the owner's token over a websocket at
`/:/websockets/notifications` (python-plexapi's `AlertListener`; Tautulli and Home Assistant
monitor through it). Each text frame is `{"NotificationContainer": {"type": ..., ...}}`; a
session changing state is `type: "playing"` with a `PlaySessionStateNotification` list of
`{sessionKey, ratingKey, key, state, viewOffset, ...}` — no user, no show. So a notice does
not become a playback event itself: it wakes the session poller, which reads
`/status/sessions` at once and turns what changed into events (source `socket`) on the one
de-duplicated playback stream. While the socket is healthy the poller slows down.

The socket connects whenever Plex is configured, with the token in a header (never in a URL
that could reach a log), reconnects with exponential backoff and jitter after a drop, and
learns the server's `machineIdentifier` from `/identity` on each connect, so webhooks from
other servers can be told apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree

import aiohttp

from cacherr.config.models import PlexConfig
from cacherr.tasks import cancel_and_wait

log = logging.getLogger(__name__)

NOTIFICATIONS_PATH = "/:/websockets/notifications"
_HEARTBEAT_S = 30.0


@dataclass(frozen=True)
class SessionNotice:
    """One `PlaySessionStateNotification` entry."""

    session_key: str
    rating_key: str
    state: str
    view_offset_ms: int | None = None


def parse_notification(text: str) -> list[SessionNotice]:
    """The session notices of one text frame; anything else (or junk) is an empty list."""
    try:
        data = json.loads(text)
    except ValueError:
        return []
    container = data.get("NotificationContainer", data) if isinstance(data, dict) else None
    if not isinstance(container, dict) or container.get("type") != "playing":
        return []
    entries = container.get("PlaySessionStateNotification")
    notices = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        session_key, rating_key = entry.get("sessionKey"), entry.get("ratingKey")
        if session_key in (None, "") or rating_key in (None, ""):
            continue
        offset = entry.get("viewOffset")
        notices.append(
            SessionNotice(
                session_key=str(session_key),
                rating_key=str(rating_key),
                state=str(entry.get("state") or ""),
                view_offset_ms=int(offset) if isinstance(offset, int | float) else None,
            )
        )
    return notices


class NotificationSocket:
    """A small long-running task: `start()`, `close()`, `reconfigure()`.

    `wake(urgent)` is called for every session notice: urgent when a session started,
    changed item or state, or stopped; not urgent for a progress report.
    """

    def __init__(
        self,
        config: Callable[[], PlexConfig],
        wake: Callable[[bool], None],
        *,
        on_server_id: Callable[[str], None] = lambda _: None,
        backoff_min_s: float = 0.5,
        backoff_max_s: float = 60.0,
        idle_check_s: float = 5.0,
    ) -> None:
        self._config = config
        self._wake = wake
        self._on_server_id = on_server_id
        self._backoff_min_s = backoff_min_s
        self._backoff_max_s = backoff_max_s
        self._idle_check_s = idle_check_s
        self._known: dict[str, tuple[str, str]] = {}
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._failing = False
        self.healthy = False
        self.connects = 0
        self.notices = 0

    def state(self) -> dict[str, Any]:
        """What the page and metrics show."""
        return {"connected": self.healthy, "connects": self.connects, "notices": self.notices}

    async def start(self) -> None:
        """Begin listening (in the background)."""
        self._stop.clear()
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name="plex-notifications")

    async def close(self) -> None:
        """Stop listening."""
        self._stop.set()
        await self._hang_up()
        await cancel_and_wait(self._task)
        self._task = None

    def reconfigure(self) -> None:
        """The Plex settings changed: reconnect with the new ones. Safe from any thread."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                asyncio.run_coroutine_threadsafe(self._hang_up(), loop)

    async def _hang_up(self) -> None:
        ws = self._ws
        if ws is not None and not ws.closed:
            await ws.close()

    def _configured(self) -> bool:
        cfg = self._config()
        return bool(cfg.url and cfg.token and cfg.token.get_secret_value())

    async def _run(self) -> None:
        delay = self._backoff_min_s
        async with aiohttp.ClientSession() as http:
            while not self._stop.is_set():
                if not self._configured():
                    await self._sleep(self._idle_check_s)
                    continue
                try:
                    if await self._listen(http):
                        delay = self._backoff_min_s
                except asyncio.CancelledError:
                    raise
                except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
                    if not self._failing:
                        self._failing = True
                        log.warning(
                            "Plex's notification socket is unavailable (%s); session polling "
                            "covers plays meanwhile, retrying",
                            type(exc).__name__,
                        )
                finally:
                    self.healthy = False
                    self._ws = None
                await self._sleep(delay * random.uniform(0.8, 1.2))
                delay = min(self._backoff_max_s, delay * 2)

    async def _listen(self, http: aiohttp.ClientSession) -> bool:
        """One connection, until it ends; True when it was established."""
        cfg = self._config()
        base = cfg.url.rstrip("/")
        token = cfg.token.get_secret_value() if cfg.token else ""
        headers = {"X-Plex-Token": token, "Accept": "application/json"}
        ssl = cfg.verify_tls  # True: the default checks; False: none (a self-signed Plex)
        timeout = aiohttp.ClientTimeout(total=cfg.timeout_s)
        async with http.get(f"{base}/identity", ssl=ssl, timeout=timeout) as resp:
            resp.raise_for_status()
            self._learn_identity(await resp.text())
        url = base.replace("http", "ws", 1) + NOTIFICATIONS_PATH
        connecting = http.ws_connect(url, headers=headers, heartbeat=_HEARTBEAT_S, ssl=ssl)
        ws = await asyncio.wait_for(connecting, cfg.timeout_s)
        async with ws:
            self._ws = ws
            self.healthy = True
            self.connects += 1
            if self._failing or self.connects == 1:
                log.info("Listening to Plex's notification socket")
            self._failing = False
            self._known.clear()  # sessions are told afresh on a new connection
            # Whatever happened while the socket was down: the poller catches up now.
            self._wake(True)
            async for message in ws:
                if message.type == aiohttp.WSMsgType.TEXT:
                    self._heard(message.data)
                elif message.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSE):
                    break
        if not self._stop.is_set():
            log.info("Plex's notification socket closed; reconnecting")
        return True

    def _learn_identity(self, text: str) -> None:
        server_id = ""
        with contextlib.suppress(ValueError, ElementTree.ParseError):
            if text.lstrip().startswith("{"):
                server_id = str(json.loads(text)["MediaContainer"]["machineIdentifier"])
            else:
                server_id = ElementTree.fromstring(text).get("machineIdentifier") or ""
        if server_id:
            self._on_server_id(server_id)

    def _heard(self, text: str) -> None:
        urgent = progress = False
        for notice in parse_notification(text):
            self.notices += 1
            now = (notice.rating_key, notice.state)
            before = self._known.get(notice.session_key)
            if notice.state == "stopped":
                self._known.pop(notice.session_key, None)
                urgent = True
            elif before != now:
                self._known[notice.session_key] = now
                urgent = True
            else:
                progress = True
        if urgent or progress:
            self._wake(urgent)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)
