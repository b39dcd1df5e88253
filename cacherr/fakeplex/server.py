"""Running Cacherr's simulated Plex: in the current loop or on a background thread.

One TCP port serves every host kind; ``url`` is the PMS and ``plextv_url``,
``discover_url``, ``metadata_url`` and ``rss_url`` are prefixes on the same port.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from types import TracebackType
from typing import Literal

from aiohttp import web

from .app import create_app
from .faults import PREFIXES, Faults, RequestCounter
from .world import World


class FakePlexServer:
    """The simulated Plex listening on ``host:port`` (port 0 picks a free one)."""

    def __init__(
        self,
        world: World,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        seed: int = 0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.world = world
        self.faults = Faults(seed)
        self.counter = RequestCounter()
        self.app = create_app(world, self.faults, self.counter)
        self.host = host
        self.port = port
        self.tls = tls  # served over https with this certificate, as Plex serves 32400
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    @property
    def url(self) -> str:
        """Base URL of the PMS."""
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def plextv_url(self) -> str:
        """Stand-in for ``https://plex.tv``."""
        return self.url + PREFIXES["plextv"]

    @property
    def discover_url(self) -> str:
        """Stand-in for ``https://discover.provider.plex.tv``."""
        return self.url + PREFIXES["discover"]

    @property
    def metadata_url(self) -> str:
        """Stand-in for ``https://metadata.provider.plex.tv``."""
        return self.url + PREFIXES["metadata"]

    def rss_url(self, feed: Literal["self", "friends"] = "friends") -> str:
        """URL of the owner's own or friends' watchlist RSS feed (on the discover host)."""
        feed_id = self.world.rss_friends_id if feed == "friends" else self.world.rss_self_id
        return f"{self.discover_url}/rss/{feed_id}"

    def retired_rss_url(self, feed: Literal["self", "friends"] = "friends") -> str:
        """The same feed's URL on the retired rss.plex.tv host (answers 401)."""
        feed_id = self.world.rss_friends_id if feed == "friends" else self.world.rss_self_id
        return f"{self.url}{PREFIXES['rss']}/{feed_id}"

    async def start(self) -> FakePlexServer:
        """Start listening; resolves port 0 to the real port."""
        self._runner = web.AppRunner(self.app, handle_signals=False, access_log=None)
        await self._runner.setup()
        await self.resume_listening()
        return self

    async def stop_listening(self) -> None:
        """Close the listening socket: clients now get a genuine "connection refused"."""
        if self._site is not None:
            await self._site.stop()
            self._site = None
        if self._runner is not None and self._runner.server is not None:
            for conn in self._runner.server.connections:  # keep-alive ones too
                conn.force_close()
            await asyncio.sleep(0)  # let the transports report closed

    async def resume_listening(self) -> None:
        """Listen again on the same port after :meth:`stop_listening`."""
        if self._runner is None:
            raise RuntimeError("server not started")
        if self._site is None:
            self._site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True,
                                     ssl_context=self.tls)  # fmt: skip
            await self._site.start()
            server = self._site._server
            if self.port == 0 and isinstance(server, asyncio.base_events.Server):
                self.port = server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop serving and release the port."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner, self._site = None, None

    async def __aenter__(self) -> FakePlexServer:
        return await self.start() if self._runner is None else self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


async def start_fake_plex(
    world: World,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    seed: int = 0,
    tls: ssl.SSLContext | None = None,
) -> FakePlexServer:
    """Start the simulated Plex in the running loop; ``await server.close()`` when done."""
    return await FakePlexServer(world, host, port, seed=seed, tls=tls).start()


class FakePlexThread:
    """The simulated Plex on its own event loop in a daemon thread.

    For synchronous callers (``cacherr demo``, plain tests)::

        with FakePlexThread(world) as fp:
            PlexServer(fp.url, world.owner.token)
    """

    def __init__(
        self, world: World, host: str = "127.0.0.1", port: int = 0, *, seed: int = 0
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fakeplex", daemon=True)
        self.server = FakePlexServer(world, host, port, seed=seed)

    def start(self) -> FakePlexServer:
        """Start the thread and the server; returns the running server."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self._loop).result(timeout=10)
        return self.server

    def call(self, coro_fn: str) -> None:
        """Run one of the server's no-argument coroutines (e.g. ``"stop_listening"``)."""
        coro = getattr(self.server, coro_fn)()
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    def stop(self) -> None:
        """Stop the server, the loop and the thread."""
        asyncio.run_coroutine_threadsafe(self.server.close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> FakePlexServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
