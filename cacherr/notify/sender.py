"""The one async adapter around apprise: sends off the event loop, with a timeout, and
reports per URL without ever logging or returning a URL (they carry tokens).

apprise is synchronous (requests) for most services, so every send runs on this
adapter's own small thread pool: a hung service can use up those threads but never the
event loop, nor the default executor the rest of Cacherr shares.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import unquote

import apprise

from cacherr.notify.digest import Level, Message

log = logging.getLogger(__name__)

_LEVELS: dict[Level, str] = {
    "info": apprise.NotifyType.INFO,
    "success": apprise.NotifyType.SUCCESS,
    "warning": apprise.NotifyType.WARNING,
    "failure": apprise.NotifyType.FAILURE,
}
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]{0,30})://")
_URL_RE = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]{0,30})://\S+")


def service_name(url: str) -> str:
    """The URL's scheme (`discord`, `json`, …): the only part of it that is safe to show."""
    match = _SCHEME_RE.match(url.strip())
    return match.group(1).lower() if match else "unknown"


@dataclass(frozen=True)
class Delivery:
    """The outcome of one message to one URL (identified by position and scheme)."""

    index: int
    service: str
    ok: bool
    error: str | None
    elapsed_s: float

    def as_dict(self) -> dict[str, object]:
        """The form the API answers with."""
        return {
            "index": self.index,
            "service": self.service,
            "ok": self.ok,
            "error": self.error,
            "elapsed_s": round(self.elapsed_s, 3),
        }


class _RedactApprise(logging.Filter):
    """apprise's debug lines print whole service URLs and payloads, and its errors echo a
    mistyped URL or a part of one (a failed ntfy send names its topic, which is the secret):
    drop the former; in the rest cut every URL down to its scheme and hide every part of
    the URLs Cacherr sends to."""

    def __init__(self) -> None:
        super().__init__()
        self._parts: set[str] = set()
        self._lock = threading.Lock()

    def remember(self, url: str) -> None:
        """Hide the parts of `url` (host, user, password, path segments, query values)."""
        found = _url_parts(url)
        with self._lock:
            self._parts |= found

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return False
        text = _URL_RE.sub(r"\1://…", record.getMessage())
        with self._lock:
            parts = sorted(self._parts, key=len, reverse=True)
        for part in parts:
            text = text.replace(part, "…")
        record.msg, record.args = text, None
        return True


def _url_parts(url: str) -> set[str]:
    body = _SCHEME_RE.sub("", url.strip(), count=1)
    pieces = re.split(r"[/?&=#@:,]+", body)
    found = {p for p in pieces if len(p) >= 3}
    return found | {unquote(p) for p in found}


def _guard_apprise_logger() -> _RedactApprise:
    logger = logging.getLogger("apprise")
    for each in logger.filters:
        if isinstance(each, _RedactApprise):
            return each
    guard = _RedactApprise()
    logger.addFilter(guard)
    return guard


class AppriseSender:
    """Sends a `Message` to apprise URLs; `await send(...)`, then `close()`."""

    def __init__(self, *, timeout_s: float = 30.0, max_workers: int = 4) -> None:
        self.timeout_s = timeout_s
        self._pool = ThreadPoolExecutor(max_workers, thread_name_prefix="cacherr-notify")
        self._loaded = False
        self._load_lock = threading.Lock()
        self._guard = _guard_apprise_logger()

    async def send(self, urls: Sequence[str], message: Message) -> list[Delivery]:
        """Send to every URL at once; one `Delivery` per URL, in order. Never raises."""
        return list(
            await asyncio.gather(*(self._send_one(i, url, message) for i, url in enumerate(urls)))
        )

    def close(self) -> None:
        """Stop the thread pool (a send still stuck in a thread is left to its timeout)."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _send_one(self, index: int, url: str, message: Message) -> Delivery:
        service = service_name(url)
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        error: str | None
        try:
            future = loop.run_in_executor(self._pool, self._notify, url, message)
            error = await asyncio.wait_for(future, self.timeout_s)
        except TimeoutError:
            error = f"no answer within {self.timeout_s:g} s"
        except RuntimeError:  # the pool is shut down: the daemon is stopping
            error = "the notifier is stopping"
        elapsed = time.monotonic() - started
        if error is None:
            log.debug("Notification sent to URL #%d (%s) in %.2f s", index + 1, service, elapsed)
        else:
            log.warning("Notification to URL #%d (%s) failed: %s", index + 1, service, error)
        return Delivery(index, service, error is None, error, elapsed)

    def _notify(self, url: str, message: Message) -> str | None:
        """On a pool thread: send, and say why not (None when sent)."""
        self._load_plugins()
        self._guard.remember(url)
        try:
            target = apprise.Apprise()
            if not target.add(url):
                return "not a valid apprise URL"
            sent = target.notify(
                body=message.body,
                title=message.title,
                notify_type=_LEVELS[message.level],
                body_format=apprise.NotifyFormat.TEXT,
            )
        except Exception as exc:  # a plugin bug must not escape into the notifier
            return f"apprise raised {type(exc).__name__}"
        return None if sent else "the service refused the message or could not be reached"

    def _load_plugins(self) -> None:
        # apprise imports its plugins on first use, and some import modules that emit
        # DeprecationWarning on this Python (e.g. imghdr); they say nothing about Cacherr.
        with self._load_lock:
            if self._loaded:
                return
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                apprise.Apprise().add("json://localhost")
            self._loaded = True
