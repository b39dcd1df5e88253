"""The HTTP transport under plexapi: base URLs, rate limits, timeouts, retries, outcomes.

plexapi sends every request through the `requests.Session` it is given, so this session is
the one place that sees its requests. It runs on the gateway's worker threads (never on the
event loop), so waiting here is a plain blocking wait that `close()` interrupts. The XML
reads made on the loop (`xmlget`) book, count and judge each attempt with the same methods
(`book`, `attempts`, `judge`, `no_answer`), which never block, and wait on the loop.

* plexapi's hard-wired `https://plex.tv` / discover / metadata URLs are rewritten to the
  configured ones, so tests and the demo point Cacherr at a fake through its settings.
* Two lanes: the Plex server (`min_interval_ms`, `max_per_minute`) and plex.tv and its
  services, kept within a token bucket (`plextv_burst` at once, `plextv_per_second`
  sustained; plex.tv answers 429 past about 10 a second). A Retry-After from plex.tv holds
  the whole lane until then, not only the request that got it.
* Timeouts, 429 (Retry-After honoured) and 5xx are retried with exponential backoff and
  jitter; what is left is raised as a `PlexError` (401/404 go back to plexapi untouched).
* Each final outcome is reported to a callback, which drives the connection state.
* Every request names the install's own `X-Plex-Client-Identifier` (see `identity`).
"""

from __future__ import annotations

import collections
import contextlib
import email.utils
import logging
import random
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from cacherr.config.models import PlexConfig
from cacherr.plex.errors import Lane, PlexRateLimited, PlexUnavailable

log = logging.getLogger(__name__)

REAL_PLEXTV = "https://plex.tv"
REAL_DISCOVER = "https://discover.provider.plex.tv"
REAL_METADATA = "https://metadata.provider.plex.tv"
MAX_RETRY_AFTER_S = 60.0
MAX_BACKOFF_S = 30.0


@dataclass(frozen=True)
class Outcome:
    """How one request ended, after its retries: `failed` means it raised."""

    lane: Lane
    failed: bool
    retried: int
    problem: str = ""
    reachable: bool = True


class LaneLimiter:
    """Spacing and a per-minute budget for one lane; thread-safe, first come first served."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = float("-inf")
        self._stamps: collections.deque[float] = collections.deque()

    def reserve(self, now: float, min_interval_s: float, max_per_minute: int | None) -> float:
        """Book the next free slot; returns the monotonic time at which the caller may go."""
        with self._lock:
            at = max(now, self._last + min_interval_s)
            if max_per_minute is not None:
                while len(self._stamps) > max_per_minute:
                    self._stamps.popleft()
                if len(self._stamps) >= max_per_minute:
                    at = max(at, self._stamps[-max_per_minute] + 60.0)
                self._stamps.append(at)
            self._last = at
            return at


class TokenBucket:
    """Short bursts, then a sustained rate; a 429's Retry-After holds it. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: float | None = None
        self._at = 0.0
        self._last = float("-inf")
        self.held_until = 0.0

    def reserve(self, now: float, burst: int, per_second: float, min_interval_s: float) -> float:
        """Book the next free slot; returns the monotonic time at which the caller may go."""
        with self._lock:
            if self._tokens is None:
                self._tokens, self._at = float(burst), now
            # Refill up to `now`, then take one token (going negative books a future slot).
            self._tokens = min(float(burst), self._tokens + (now - self._at) * per_second)
            self._at = now
            self._tokens -= 1.0
            at = now if self._tokens >= 0 else now - self._tokens / per_second
            at = max(at, self.held_until, self._last + min_interval_s)
            self._last = at
            return at

    def hold(self, until: float) -> None:
        """Nobody goes before `until` (monotonic): plex.tv asked for that pause."""
        with self._lock:
            if until > self.held_until:
                self.held_until = until
                self._tokens = 0.0
                self._at = until


class PlexTransport(requests.Session):
    """The `requests.Session` handed to every plexapi object Cacherr builds."""

    def __init__(
        self,
        config: Callable[[], PlexConfig],
        on_outcome: Callable[[Outcome], None],
        *,
        backoff_base_s: float = 0.5,
        client_id: str | None = None,
    ) -> None:
        super().__init__()
        self._config = config
        self.client_id = client_id
        self._on_outcome = on_outcome
        self._backoff_base_s = backoff_base_s
        self._local = threading.local()
        self.closed = threading.Event()
        self.limiters: dict[Lane, LaneLimiter] = {"pms": LaneLimiter()}
        self.plextv_budget = TokenBucket()
        self.calls: collections.Counter[Lane] = collections.Counter()
        # (lane, endpoint template, HTTP status or "error") -> answers, for /metrics.
        self.answers: collections.Counter[tuple[Lane, str, str]] = collections.Counter()
        self._answers_lock = threading.Lock()

    @contextlib.contextmanager
    def single_attempt(self) -> Iterator[None]:
        """Within this block (on this thread) requests are not retried: for probes."""
        self._local.single = True
        try:
            yield
        finally:
            self._local.single = False

    def rewrite(self, url: str) -> tuple[str, Lane]:
        """The configured URL for plexapi's hard-wired one, and its lane."""
        cfg = self._config()
        plextv = (cfg.discover_url, cfg.metadata_url, cfg.plextv_url)
        reals = (REAL_DISCOVER, REAL_METADATA, REAL_PLEXTV)
        for real, configured in zip(reals, plextv, strict=True):
            if url == real or url.startswith(real + "/"):
                url = configured.rstrip("/") + url[len(real) :]
                break
        forced: Lane | None = getattr(self._local, "lane", None)
        if forced is not None:
            return url, forced
        if any(_under(url, base) for base in plextv):
            return url, "plextv"
        return url, "pms" if cfg.url and _under(url, cfg.url) else "plextv"

    @contextlib.contextmanager
    def lane(self, lane: Lane) -> Iterator[None]:
        """Within this block (on this thread) requests count against `lane`."""
        self._local.lane = lane
        try:
            yield
        finally:
            self._local.lane = None

    def book(self, lane: Lane) -> float:
        """Book `lane`'s next free slot and count the call: the monotonic time to send it."""
        cfg = self._config()
        if lane == "pms":
            at = self.limiters[lane].reserve(
                time.monotonic(), cfg.min_interval_ms / 1000, cfg.max_per_minute
            )
        else:
            at = self.plextv_budget.reserve(
                time.monotonic(),
                cfg.plextv_burst,
                cfg.plextv_per_second,
                cfg.plextv_min_interval_ms / 1000,
            )
        self.calls[lane] += 1
        return at

    def attempts(self, lane: Lane, *, single: bool = False) -> Iterator[tuple[int, bool]]:
        """(attempt, whether it is the last) for each try a request may make; stops with
        `PlexUnavailable` once Cacherr is shutting down."""
        count = 1 if single else 1 + self._config().retries
        for attempt in range(count):
            if self.closed.is_set():
                raise PlexUnavailable("Cacherr is shutting down", lane=lane)
            yield attempt, attempt == count - 1

    def identified(self, headers: Mapping[str, str] | None) -> dict[str, str]:
        """`headers` naming the install's own device id, not plexapi's MAC-derived one."""
        out = dict(headers or {})
        if self.client_id:
            out.update({"X-Plex-Client-Identifier": self.client_id, "X-Plex-Product": "Cacherr"})
        return out

    def no_answer(
        self, lane: Lane, url: str, attempt: int, last: bool, exc: Exception, *, slow: bool
    ) -> float:
        """An attempt that got no answer (`slow`: connected, but none in time): the seconds
        to wait before the next one; after the last, `PlexUnavailable`."""
        self._count(lane, url, "error")
        problem = f"no answer ({type(exc).__name__})"
        if last:
            # Connected but slow (one big section, say) is unwell, not down.
            self._report(lane, True, attempt, problem, reachable=slow)
            raise PlexUnavailable(f"{_name(lane)}: {problem}", lane=lane) from None
        log.debug("%s: %s, retry %d", _name(lane), problem, attempt + 1)
        return self._backoff(attempt)

    def judge(
        self, lane: Lane, url: str, attempt: int, last: bool, status: int, retry_after: str | None
    ) -> float | None:
        """An attempt's answer: None when it is the caller's to read (any status but 429 and
        5xx), else the seconds to wait before the next attempt; after the last, the error."""
        self._count(lane, url, str(status))
        if status != 429 and status < 500:
            self._report(lane, False, attempt, "")
            return None
        problem = f"HTTP {status}"
        wait = self._backoff(attempt)
        if status == 429:
            asked = retry_after_s(retry_after)
            if asked is not None:
                wait = asked
            if lane == "plextv":  # remembered for every caller, not only this one
                self.plextv_budget.hold(time.monotonic() + min(wait, MAX_RETRY_AFTER_S))
                log.warning("plex.tv asked Cacherr to wait %.0f s (429)", wait)
            if last or wait > MAX_RETRY_AFTER_S:
                self._report(lane, True, attempt, "rate limited (429)")
                raise PlexRateLimited(
                    f"{_name(lane)} is rate limiting Cacherr", lane=lane, retry_after_s=wait
                )
        elif last:
            # A proxy's or Plex's own "unavailable" means down; a 500 means unwell.
            self._report(lane, True, attempt, problem, reachable=status not in (502, 503, 504))
            raise PlexUnavailable(f"{_name(lane)}: {problem}", lane=lane)
        log.debug("%s: %s, retry %d in %.2fs", _name(lane), problem, attempt + 1, wait)
        return wait

    def _sleep(self, seconds: float, lane: Lane) -> None:
        if seconds > 0 and self.closed.wait(seconds):
            raise PlexUnavailable("Cacherr is shutting down", lane=lane)

    def _backoff(self, attempt: int) -> float:
        delay = min(MAX_BACKOFF_S, self._backoff_base_s * 2.0**attempt)
        return delay / 2 + random.uniform(0, delay / 2)

    def request(
        self, method: str, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        """Send with rate limit, timeout and retries; raise what remains as a `PlexError`."""
        cfg = self._config()
        target, lane = self.rewrite(url.decode() if isinstance(url, bytes) else url)
        kwargs["timeout"] = cfg.timeout_s  # live: a reload applies to existing plexapi objects
        kwargs["headers"] = self.identified(kwargs.get("headers"))
        kwargs.setdefault("verify", cfg.verify_tls)
        single = getattr(self._local, "single", False)
        for attempt, last in self.attempts(lane, single=single):
            self._sleep(self.book(lane) - time.monotonic(), lane)
            try:
                response = super().request(method, target, *args, **kwargs)
            except (requests.Timeout, requests.ConnectionError) as exc:
                slow = isinstance(exc, requests.ReadTimeout)
                self._sleep(self.no_answer(lane, target, attempt, last, exc, slow=slow), lane)
                continue
            status, asked = response.status_code, response.headers.get("Retry-After")
            wait = self.judge(lane, target, attempt, last, status, asked)
            if wait is None:
                return response
            self._sleep(wait, lane)
        raise AssertionError("unreachable")  # pragma: no cover

    def _count(self, lane: Lane, url: str, status: str) -> None:
        with self._answers_lock:
            self.answers[(lane, endpoint_template(url), status)] += 1

    def _report(
        self, lane: Lane, failed: bool, retried: int, problem: str, *, reachable: bool = True
    ) -> None:
        try:
            self._on_outcome(Outcome(lane, failed, retried, problem, reachable))
        except Exception:
            log.exception("Plex outcome listener failed")


_TOKEN_LIKE = re.compile(r"[0-9A-Za-z_-]{16,}")


def _is_id(segment: str) -> bool:
    # Numbers, and long tokens with a digit (guids, feed keys): never a label's value.
    return segment.isdigit() or (
        _TOKEN_LIKE.fullmatch(segment) is not None and any(c.isdigit() for c in segment)
    )


def endpoint_template(url: str) -> str:
    """The path of `url` with ids folded, e.g. `/library/metadata/{id}/children`."""
    segments = urllib.parse.urlsplit(url).path.split("/")
    return "/".join("{id}" if _is_id(seg) else seg for seg in segments) or "/"


def retry_after_s(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta seconds or an HTTP date), None if absent."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _under(url: str, base: str) -> bool:
    base = base.rstrip("/")
    return bool(base) and (url == base or url.startswith(base + "/"))


def _name(lane: Lane) -> str:
    return "Plex" if lane == "pms" else "plex.tv"
