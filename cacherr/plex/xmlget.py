"""Plain XML reads from the Plex server, made on the event loop with aiohttp.

Most of Cacherr's calls to Plex read a little XML: a show's episodes, one item, a page of a
section, the sessions. Through plexapi and requests each such call cost about 2 ms of the
interpreter's time (preparing the request, cookies, the environment's proxies, a hop to a
worker thread and back). In a burst of forty plays those calls held the interpreter's lock
for a quarter of the burst, and every other thread waited for it. Here the same read costs
about 0.6 ms and no thread: while Plex answers, the loop serves everything else.

Each read keeps the rules of every other Plex request: the lane's limits, the retries and
their backoff, Retry-After, the outcome that drives the connection state and the counts for
`/metrics` (all `PlexTransport`'s), the install's own device id, the timeout and TLS
settings. At most `CONNECTIONS` reads are in flight at once: 16, so forty plays arriving
together ask for their shows' episodes in three waves instead of five (the burst's last
next episode was on the cache ~30 ms sooner in 11 of 16 turns), while the lane's pace
(`plex.min_interval_ms`, `plex.max_per_minute`) holds as for every other request.

It trusts what requests trusts. An https address is checked against the certificates of
`REQUESTS_CA_BUNDLE` or `CURL_CA_BUNDLE` when set, else certifi's, so a private certificate
authority set up for plexapi works here too. The environment's proxy settings
(`http_proxy`, `https_proxy`, `no_proxy`) apply, looked up once per server address, where
aiohttp's `trust_env` would hand each request to a thread twice (for them and for
`.netrc`, which a Plex token never needs). An answer larger than `PARSE_ON_LOOP_BYTES` is
parsed on a worker thread, so the loop never stalls on a big page.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any, Final
from xml.etree import ElementTree
from xml.etree.ElementTree import Element

import aiohttp
import plexapi
from plexapi.utils import cleanXMLString
from requests.utils import DEFAULT_CA_BUNDLE_PATH

from cacherr.config.models import PlexConfig
from cacherr.plex.errors import PlexUnavailable, refusal, unusable
from cacherr.plex.transport import PlexTransport

CONNECTIONS: Final = 16
PARSE_ON_LOOP_BYTES: Final = 64 * 2**10  # parsed in about a millisecond


class XmlReader:
    """GETs of XML from the configured Plex server; `start()` inside the loop, `close()`."""

    def __init__(self, transport: PlexTransport, config: Callable[[], PlexConfig]) -> None:
        self._transport = transport
        self._config = config
        self._session: aiohttp.ClientSession | None = None
        # The reads in progress, each stopped by its own deadline when the pool closes.
        self._reads: set[asyncio.Timeout] = set()
        self._drained = asyncio.Event()
        self._proxies: dict[str, str | None] = {}
        self._trust: ssl.SSLContext | None = None

    async def start(self) -> None:
        """Open the connection pool (on the running loop)."""
        connector = aiohttp.TCPConnector(limit=CONNECTIONS)
        self._session = aiohttp.ClientSession(connector=connector)

    async def close(self) -> None:
        """Stop the reads in progress (each ends as `PlexUnavailable`), then close the pool."""
        session, self._session = self._session, None
        if self._reads:
            self._drained.clear()
            now = asyncio.get_running_loop().time()
            for read in self._reads:
                read.reschedule(now)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained.wait(), 1.0)
        if session is not None:
            await session.close()

    async def get(
        self, key: str, *, token: str | None = None, params: dict[str, Any] | None = None
    ) -> Element:
        """GET `key` (a path on the server) as the owner, or as `token`'s user: the parsed
        XML. 401, 404 and other refusals raise what plexapi's would have become."""
        cfg = self._config()
        url = cfg.url.rstrip("/") + key
        owner = cfg.token.get_secret_value() if cfg.token else ""
        headers = self._transport.identified({**plexapi.BASE_HEADERS,
                                              "X-Plex-Token": token or owner})  # fmt: skip
        query = {k: str(v) for k, v in (params or {}).items()}
        status, body = await self._send(url, headers, query, cfg)
        if status not in (200, 201, 204):
            raise refusal(status)
        if len(body) > PARSE_ON_LOOP_BYTES:
            return await asyncio.to_thread(parse, body)
        return parse(body)

    async def _send(
        self, url: str, headers: dict[str, str], query: dict[str, str], cfg: PlexConfig
    ) -> tuple[int, bytes]:
        """The transport's attempts, limits and judgement around each exchange."""
        transport = self._transport
        for attempt, last in transport.attempts("pms"):
            await asyncio.sleep(max(0.0, transport.book("pms") - time.monotonic()))
            try:
                status, asked, body = await self._exchange(url, headers, query, cfg)
            except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
                slow = isinstance(exc, aiohttp.SocketTimeoutError)
                await asyncio.sleep(transport.no_answer("pms", url, attempt, last, exc, slow=slow))
                continue
            wait = transport.judge("pms", url, attempt, last, status, asked)
            if wait is None:
                return status, body
            await asyncio.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _exchange(
        self, url: str, headers: dict[str, str], query: dict[str, str], cfg: PlexConfig
    ) -> tuple[int, str | None, bytes]:
        """One request and its whole answer: (status, Retry-After, body)."""
        session = self._session
        if session is None or self._transport.closed.is_set():
            raise PlexUnavailable("Cacherr is shutting down")
        timeout = aiohttp.ClientTimeout(sock_connect=cfg.timeout_s, sock_read=cfg.timeout_s)
        stop = asyncio.timeout(None)
        self._reads.add(stop)
        try:
            if (proxy := self._proxies.get(cfg.url, "")) == "":
                proxy = self._proxies[cfg.url] = environment_proxy(cfg.url)
            get = session.get(url, headers=headers, params=query, timeout=timeout,
                              ssl=await self._tls(url, cfg), proxy=proxy)  # fmt: skip
            async with stop, get as response:
                body = await response.read()
                return response.status, response.headers.get("Retry-After"), body
        except TimeoutError:
            if stop.expired():  # the pool is closing
                raise PlexUnavailable("Cacherr is shutting down") from None
            raise
        finally:
            self._reads.discard(stop)
            if not self._reads:
                self._drained.set()

    async def _tls(self, url: str, cfg: PlexConfig) -> ssl.SSLContext | bool:
        """How an https answer is checked: not at all (`plex.verify_tls` off), or against
        requests' certificates, loaded once off the loop."""
        if not cfg.verify_tls:
            return False
        if not url.startswith("https:"):
            return True
        if self._trust is None:
            self._trust = await asyncio.to_thread(trusted_authorities)
        return self._trust


def trusted_authorities() -> ssl.SSLContext:
    """The certificates requests checks a server against: `REQUESTS_CA_BUNDLE` or
    `CURL_CA_BUNDLE` (a file or a folder), else certifi's bundle."""
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    bundle = bundle or DEFAULT_CA_BUNDLE_PATH
    if os.path.isdir(bundle):
        return ssl.create_default_context(capath=bundle)
    return ssl.create_default_context(cafile=bundle)


def parse(body: bytes) -> Element:
    """Plex's XML; an empty answer is an empty container. Characters XML does not allow
    (seen in titles) are cleaned out and the answer read again, as plexapi does."""
    if not body.strip():
        return Element("MediaContainer")
    try:
        return ElementTree.fromstring(body)
    except ElementTree.ParseError:
        text = body.decode("utf-8", errors="replace")
        cleaned = cleanXMLString(text).encode("utf-8")  # type: ignore[no-untyped-call]
    try:
        return ElementTree.fromstring(cleaned) if cleaned.strip() else Element("MediaContainer")
    except ElementTree.ParseError as exc:
        raise unusable(exc) from exc


def environment_proxy(url: str) -> str | None:
    """The proxy the environment names for `url` (None: straight to it): `http_proxy` or
    `https_proxy` by its scheme, unless `no_proxy` names its host (read as Python's
    `urllib` reads them)."""
    parts = urllib.parse.urlsplit(url)
    if not parts.hostname or urllib.request.proxy_bypass(parts.netloc):
        return None
    return urllib.request.getproxies().get(parts.scheme)
