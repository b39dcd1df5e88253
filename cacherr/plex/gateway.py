"""The one async door to Plex: plexapi off the event loop, errors translated, state tracked.

plexapi is synchronous and `PlexServer(...)` does I/O in its constructor, so every plexapi
call runs on a small dedicated thread pool, several calls per hop where they belong
together. Plain XML reads from the server (`query`) need no plexapi object: they are made on
the loop (`xmlget`), under the same rules. Rate limits, timeouts and retries live in
`PlexTransport` (the session plexapi uses). The connection state (connected / degraded /
down) is kept in `PlexStatus` and each change is published as a `plex_state` event; a
supervisor task reconnects by itself, with backoff, when Plex comes back. While Plex is
down calls fail fast instead of queueing.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from xml.etree.ElementTree import Element, ParseError

from plexapi import exceptions as plexexc
from plexapi.myplex import MyPlexAccount
from plexapi.server import PlexServer

from cacherr import events
from cacherr.config.models import PlexConfig
from cacherr.events import EventBus
from cacherr.plex.errors import (
    Lane,
    PlexBadAnswer,
    PlexError,
    PlexNotConfigured,
    PlexNotFound,
    PlexUnavailable,
    refusal,
    unusable,
)
from cacherr.plex.status import PlexState, PlexStatus
from cacherr.plex.transport import Outcome, PlexTransport
from cacherr.plex.xmlget import XmlReader

log = logging.getLogger(__name__)

T = TypeVar("T")
_LANE_NAMES: dict[Lane, str] = {"pms": "Plex", "plextv": "plex.tv"}


class PlexGateway:
    """Owns the plexapi objects, the worker threads and the connection state."""

    def __init__(
        self,
        config: Callable[[], PlexConfig],
        status: PlexStatus,
        bus: EventBus,
        *,
        max_workers: int = 8,
        backoff_base_s: float = 0.5,
        probe_min_s: float = 1.0,
        probe_max_s: float = 60.0,
        recover_after: int = 3,
        client_id: str | None = None,
        on_server_id: Callable[[str], None] = lambda _: None,
    ) -> None:
        self._config = config
        # Told the server's machineIdentifier at each connection: webhooks and Tautulli name
        # the server a play happened on, and only ours counts.
        self._on_server_id = on_server_id
        self.status = status
        self._bus = bus
        self._max_workers = max_workers
        self._probe_min_s = probe_min_s
        self._probe_max_s = probe_max_s
        self._recover_after = recover_after
        self.transport = PlexTransport(
            config, self._outcome, backoff_base_s=backoff_base_s, client_id=client_id
        )
        self._xml = XmlReader(self.transport, config)
        self._pool: ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._attempted = asyncio.Event()
        self._server: Any = None
        self._account: Any = None
        self._account_lock = threading.Lock()
        self._down: str | None = None
        self._trouble: dict[Lane, str] = {}
        self._clean: dict[Lane, int] = {"pms": 0, "plextv": 0}

    # ------------------------------------------------------------------ lifetime
    @property
    def configured(self) -> bool:
        """Whether an address and an owner token are set."""
        cfg = self._config()
        return bool(cfg.url and cfg.token and cfg.token.get_secret_value())

    async def start(self) -> None:
        """Start the worker threads and the supervisor (which connects in the background)."""
        self._loop = asyncio.get_running_loop()
        self._pool = ThreadPoolExecutor(self._max_workers, thread_name_prefix="plex")
        await self._xml.start()
        self._task = asyncio.create_task(self._supervise(), name="plex-supervisor")

    async def close(self) -> None:
        """Stop the supervisor, interrupt waits in the worker threads, release them."""
        self.transport.closed.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        await self._xml.close()
        self.transport.close()

    def reconfigure(self) -> None:
        """The Plex settings changed: reconnect. Safe to call from any thread."""
        if self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._reset)

    def _reset(self) -> None:
        self._server, self._account = None, None
        self._down, self._trouble = None, {}
        self._attempted.clear()
        self._wake.set()

    async def wait_settled(self, timeout_s: float | None = None) -> PlexState:
        """Wait for the current connection attempt to finish; returns the state."""
        await asyncio.wait_for(self._attempted.wait(), timeout_s)
        return self.status.state

    # ------------------------------------------------------------------ calls
    async def run(self, fn: Callable[[Any], T]) -> T:
        """Run `fn(plex_server)` on a worker thread (one hop for several plexapi calls)."""
        server = await self._ready()
        return await self._hop(functools.partial(fn, server), "pms")

    async def run_plextv(self, fn: Callable[[Any], T]) -> T:
        """Run `fn(owner_account)` on a worker thread; the `MyPlexAccount` is built once."""
        if not self.configured:
            raise PlexNotConfigured("Plex is not configured", lane="plextv")
        return await self._hop(lambda: fn(self._owner_account()), "plextv")

    async def query(
        self, key: str, *, token: str | None = None, params: dict[str, Any] | None = None
    ) -> Element:
        """GET `key` on the Plex server (as `token`'s user when given): the parsed XML.

        Plain XML rather than plexapi objects: those reload themselves (another request,
        with the owner's token) when an attribute is missing.
        """
        await self._ready()
        return await self._xml.get(key, token=token, params=params)

    async def query_plextv(
        self,
        url: str,
        *,
        token: str | None = None,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> Any:
        """One plex.tv request as the owner (or `token`'s user): the parsed answer."""

        def query(account: Any) -> Any:
            send = self.transport.post if method == "POST" else self.transport.get
            extra = dict(headers or {})
            if token:
                extra["X-Plex-Token"] = token
            return account.query(url, send, headers=extra, **kwargs)

        return await self.run_plextv(query)

    async def fetch_text(self, url: str) -> str:
        """GET a plex.tv-hosted document without a token (the watchlist RSS feeds).

        Redirects are followed; 401 and 404 (a feed plex.tv no longer serves there, such
        as the retired rss.plex.tv URLs) raise `PlexNotFound`.
        """

        def get() -> str:
            with self.transport.lane("plextv"):
                response = self.transport.get(url, allow_redirects=True)
            if response.status_code in (401, 404):
                code = response.status_code
                raise PlexNotFound(f"plex.tv does not serve this feed ({code})", lane="plextv")
            if response.status_code >= 400:
                raise PlexBadAnswer(f"plex.tv answered {response.status_code}", lane="plextv")
            return response.text

        return await self._hop(get, "plextv")

    async def sessions(self) -> list[Any]:
        """Plex's current playback sessions (plexapi objects; owner token only)."""
        return await self.run(lambda server: list(server.sessions()))

    async def machine_identifier(self) -> str:
        """The Plex server's machineIdentifier."""
        server = await self._ready()
        return str(server.machineIdentifier)

    async def _ready(self) -> Any:
        if not self.configured:
            raise PlexNotConfigured("Plex is not configured")
        if not self._attempted.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._attempted.wait(), self._config().timeout_s)
        if self._down is not None or self._server is None:
            raise PlexUnavailable(f"Plex is down: {self._down or 'not connected yet'}")
        return self._server

    async def _hop(self, fn: Callable[[], T], lane: Lane) -> T:
        if self._loop is None or self._pool is None:
            raise PlexUnavailable("the Plex gateway is not running", lane=lane)
        return await self._loop.run_in_executor(self._pool, _translated, fn, lane)

    def _owner_account(self) -> Any:
        with self._account_lock:
            if self._account is None:
                cfg = self._config()
                token = cfg.token.get_secret_value() if cfg.token else None
                self._account = MyPlexAccount(  # type: ignore[no-untyped-call]
                    token=token, session=self.transport, timeout=cfg.timeout_s
                )
            return self._account

    # ------------------------------------------------------------------ state
    async def _supervise(self) -> None:
        delay = self._probe_min_s
        while True:
            if not self.configured:
                self._attempted.set()
                self._update()
            elif self._server is None or self._down is not None:
                if await self._connect():
                    delay = self._probe_min_s
                else:
                    delay = min(self._probe_max_s, delay * 2)
            elif "pms" in self._trouble:
                # Degraded: a cheap unauthenticated probe counts towards recovery; when even
                # that gets no answer, Plex is down (one slow endpoint alone is not).
                try:
                    await self._hop(functools.partial(self._probe_identity), "pms")
                except PlexUnavailable as exc:
                    self._down = exc.message
                    self._update()
                except PlexError:
                    pass
            self._wake.clear()
            idle = self._server is not None and self._down is None and not self._trouble
            timeout = None if idle or not self.configured else delay * random.uniform(0.8, 1.2)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    def _probe_identity(self) -> None:
        with self.transport.single_attempt():
            self.transport.get(self._config().url.rstrip("/") + "/identity")

    def _open_server(self, url: str, token: str, timeout_s: float) -> Any:
        with self.transport.single_attempt():
            return PlexServer(  # type: ignore[no-untyped-call]
                url, token, session=self.transport, timeout=timeout_s
            )

    async def _connect(self) -> bool:
        cfg = self._config()
        token = cfg.token.get_secret_value() if cfg.token else ""
        if self._server is None and not self._down:
            self._set_state("connecting", f"connecting to {cfg.url}")
        try:
            server = await self._hop(
                functools.partial(self._open_server, cfg.url, token, cfg.timeout_s), "pms"
            )
        except PlexError as exc:
            self._down = exc.message
            log.debug("Plex connection attempt failed: %s", exc.message)
            self._attempted.set()
            self._update()
            return False
        self._server, self._down = server, None
        self._on_server_id(str(server.machineIdentifier))
        self._trouble.pop("pms", None)
        self._attempted.set()
        self._update()
        return True

    def _outcome(self, outcome: Outcome) -> None:
        """How a request ended, from a worker thread or from the loop (`xmlget`): noted on
        the loop, before the caller learns of the answer when it is the loop's own."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        if _running_loop() is loop:
            self._note(outcome)
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._note, outcome)

    def _note(self, outcome: Outcome) -> None:
        lane = outcome.lane
        if outcome.failed and not outcome.reachable and lane == "pms" and self._server:
            self._down = outcome.problem
            self._wake.set()
        if outcome.failed or outcome.retried:
            what = outcome.problem or f"answered after {outcome.retried} retries"
            self._trouble[lane] = what
            self._clean[lane] = 0
            self._wake.set()
        else:
            self._clean[lane] += 1
            if self._clean[lane] >= self._recover_after:
                self._trouble.pop(lane, None)
        self._update()

    def _update(self) -> None:
        if not self.configured:
            self._set_state("not_configured", "set plex.url and plex.token")
        elif self._down is not None:
            self._set_state("down", self._down)
        elif self._server is None:
            return
        elif self._trouble:
            parts = [f"{_LANE_NAMES[k]}: {v}" for k, v in self._trouble.items()]
            self._set_state("degraded", "; ".join(sorted(parts)))
        else:
            name = getattr(self._server, "friendlyName", "") or "Plex"
            self._set_state("connected", f"connected to {name}")

    def _set_state(self, state: PlexState, message: str) -> None:
        status = self.status
        if state == status.state:
            status.message = message
            return
        previous = status.state
        status.state, status.message, status.since = state, message, time.time()
        level = logging.WARNING if state in ("down", "degraded") else logging.INFO
        log.log(level, "Plex is %s (was %s): %s", state, previous, message)
        self._bus.publish(
            events.PlexState(state=state, message=message, since=status.since, previous=previous)
        )


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:  # a worker thread
        return None


def _translated(fn: Callable[[], T], lane: Lane) -> T:
    """Call `fn` and turn plexapi's exceptions into Cacherr's (on the worker thread)."""
    try:
        return fn()
    except PlexError:
        raise
    except plexexc.Unauthorized:
        raise refusal(401, lane=lane) from None
    except plexexc.NotFound:
        raise refusal(404, lane=lane) from None
    except plexexc.BadRequest as exc:
        raise refusal(str(exc).split(")", 1)[0].lstrip("("), lane=lane) from None
    except ParseError as exc:
        raise unusable(exc, lane=lane) from exc
