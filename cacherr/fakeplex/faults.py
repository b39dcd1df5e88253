"""Fault injection and request counting for Cacherr's simulated Plex.

Every request is counted first (by host kind and normalised route template such as
``/library/metadata/{rk}``), then the fault rules that match it are applied:
added latency, a forced 429 with ``Retry-After``, a seeded fraction of 500s, or
"down"; and plex.tv's own rate limit (10 a second by default, 429 past it). Down has
two modes: ``"close"`` (default) drops the connection without an answer, which clients
see as a connection error; ``"503"`` answers Service Unavailable.
For a genuine "connection refused" use ``FakePlexServer.stop_listening()``.
"""

from __future__ import annotations

import asyncio
import collections
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Literal

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

HostKind = Literal["pms", "plextv", "discover", "metadata", "rss"]
DownMode = Literal["close", "503"]

#: URL prefix of each host kind on the one simulated server ("" is the PMS itself).
PREFIXES: dict[HostKind, str] = {
    "plextv": "/plextv",
    "discover": "/discover",
    "metadata": "/metadata",
    "rss": "/rss",
    "pms": "",
}
UNMATCHED = "<unmatched>"
#: "if you send 10 requests per second, it will also block you. The exact limit is not
#: officially documented." (RickDB/PlexAniSync#51); plex.tv's 429s: watchstate #325,
#: Maintainerr #1250.
PLEXTV_PER_SECOND = 10


def host_kind(path: str) -> HostKind:
    """Which simulated host a request path belongs to."""
    for kind, prefix in PREFIXES.items():
        if prefix and (path == prefix or path.startswith(prefix + "/")):
            return kind
    return "pms"


@dataclass
class FaultRule:
    """Faults for one scope; fields left at their defaults inject nothing."""

    latency_ms: int = 0
    error_rate: float = 0.0
    too_many_requests: bool = False
    retry_after_s: int = 1
    down: bool = False
    down_mode: DownMode = "close"


class Faults:
    """Fault rules by scope: global, per host kind and per route template.

    ``faults.rule()`` is the global rule, ``faults.rule(kind="plextv")`` one host,
    ``faults.rule(route="/status/sessions")`` one endpoint (template as counted).
    All rules matching a request apply; latencies add up.
    """

    def __init__(self, seed: int = 0, *, plextv_per_second: int | None = PLEXTV_PER_SECOND) -> None:
        self._rules: dict[tuple[HostKind | None, str | None], FaultRule] = {}
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        #: plex.tv's own rate limit (all its hosts together): more requests than this within
        #: one second answer 429 with Retry-After; None turns it off.
        self.plextv_per_second = plextv_per_second
        self.plextv_limited = 0  # 429s answered by that limit
        self._plextv_stamps: collections.deque[float] = collections.deque()

    def over_plextv_limit(self) -> bool:
        """Count one plex.tv request; True when it is past the per-second limit."""
        limit = self.plextv_per_second
        if limit is None:
            return False
        now = time.monotonic()
        with self._lock:
            stamps = self._plextv_stamps
            while stamps and stamps[0] <= now - 1.0:
                stamps.popleft()
            if len(stamps) >= limit:
                self.plextv_limited += 1
                return True
            stamps.append(now)
            return False

    def rule(self, *, kind: HostKind | None = None, route: str | None = None) -> FaultRule:
        """The (created on first use) rule of a scope; mutate its fields."""
        with self._lock:
            return self._rules.setdefault((kind, route), FaultRule())

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self._rules.clear()

    def matching(self, kind: HostKind, route: str) -> list[FaultRule]:
        """Rules that apply to a request."""
        with self._lock:
            return [
                r for (k, t), r in self._rules.items() if k in (None, kind) and t in (None, route)
            ]

    def roll(self, rate: float) -> bool:
        """Seeded coin flip, so error-rate tests are reproducible."""
        with self._lock:
            return rate > 0 and self._rng.random() < rate


class RequestCounter:
    """Counts requests per (host kind, route template)."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[HostKind, str]] = Counter()
        self._lock = threading.Lock()
        #: requests per ``X-Plex-Client-Identifier`` (each is a device on plex.tv)
        self.clients: Counter[str] = Counter()

    def record(self, kind: HostKind, route: str, client: str | None = None) -> None:
        """Count one request (and the client identifier it names)."""
        with self._lock:
            self._counts[(kind, route)] += 1
            if client:
                self.clients[client] += 1

    def count(self, route: str, kind: HostKind | None = None) -> int:
        """Requests to a route template, e.g. ``count("/library/metadata/{rk}")``."""
        with self._lock:
            return sum(n for (k, t), n in self._counts.items() if t == route and kind in (None, k))

    def total(self, kind: HostKind | None = None) -> int:
        """All requests, or those of one host kind."""
        with self._lock:
            return sum(n for (k, _), n in self._counts.items() if kind in (None, k))

    def by_route(self) -> dict[str, int]:
        """Snapshot: route template -> count (all host kinds)."""
        with self._lock:
            out: Counter[str] = Counter()
            for (_, t), n in self._counts.items():
                out[t] += n
            return dict(out)

    def by_kind(self) -> dict[HostKind, int]:
        """Snapshot: host kind -> count."""
        with self._lock:
            out: Counter[HostKind] = Counter()
            for (k, _), n in self._counts.items():
                out[k] += n
            return dict(out)

    def reset(self) -> None:
        """Forget all counts."""
        with self._lock:
            self._counts.clear()
            self.clients.clear()


def route_template(request: web.Request) -> str:
    """The matched route's template without its host prefix, e.g. ``/library/metadata/{rk}``."""
    info = request.match_info
    if info.http_exception is not None:
        return UNMATCHED
    canonical = info.route.resource.canonical if info.route.resource else UNMATCHED
    prefix = PREFIXES[host_kind(request.path)]
    return canonical[len(prefix) :] or "/" if prefix else canonical


def fault_middleware(faults: Faults, counter: RequestCounter) -> Middleware:
    """The middleware that counts and then injects faults."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        kind, route = host_kind(request.path), route_template(request)
        counter.record(kind, route, request.headers.get("X-Plex-Client-Identifier"))
        rules = faults.matching(kind, route)
        latency_ms = sum(r.latency_ms for r in rules)
        if latency_ms:
            await asyncio.sleep(latency_ms / 1000)
        for r in rules:
            if r.down:
                if r.down_mode == "503":
                    raise web.HTTPServiceUnavailable(text="simulated outage")
                if request.transport is not None:
                    request.transport.abort()
                raise asyncio.CancelledError  # nothing may be written on an aborted socket
        if kind != "pms" and faults.over_plextv_limit():
            raise web.HTTPTooManyRequests(headers={"Retry-After": "1"}, text="rate limited")
        for r in rules:
            if r.too_many_requests:
                raise web.HTTPTooManyRequests(
                    headers={"Retry-After": str(r.retry_after_s)}, text="simulated rate limit"
                )
        if any(faults.roll(r.error_rate) for r in rules):
            raise web.HTTPInternalServerError(text="simulated server error")
        return await handler(request)

    return middleware
