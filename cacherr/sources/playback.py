"""The one stream of playback events: Plex webhooks, Tautulli, the session poller and Plex's
notification socket, merged.

Every source turns what it heard into a `Playback` event (`cacherr.events`) and offers it to the
`PlaybackStream`. The same thing heard twice is one event: a webhook and a poll both seeing
a play, or Plex delivering a webhook twice, within `window_s` (play and resume count as the
same thing). A scrobble is remembered much longer (`scrobble_memory_s`), since Plex and the
poller can see a watch minutes apart. Accepted events go on a bounded queue for the reactor
and, the same objects, out on the bus for the page.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Final, Literal

from cacherr.events import EventBus, Playback, PlaybackKind
from cacherr.plex.users import MAIN_ID

log = logging.getLogger(__name__)

OfferResult = Literal["queued", "duplicate", "foreign"]

# Kinds that mean the same thing to Cacherr share a class: a duplicate is a repeat of the class.
KIND_CLASS: Final[dict[PlaybackKind, str]] = {
    "play": "start",
    "resume": "start",
    "pause": "pause",
    "stop": "stop",
    "scrobble": "scrobble",
    "new": "new",
    "ondeck": "ondeck",
}
# Kinds a reaction plans for (and that are logged as they arrive); a pause, a stop or an
# on-deck notice changes nothing on the disks and is logged at DEBUG (a busy server sends many).
PLANNING_KINDS: Final = frozenset({"play", "resume", "scrobble", "new"})


def user_keys(event: Playback) -> tuple[str, ...]:
    """Every way an event names its user; two events match when any key is shared."""
    keys = []
    if event.user_id:
        keys.append(f"id:{event.user_id}")
    if event.username:
        keys.append(f"name:{event.username.casefold()}")
    return tuple(keys) or ("anonymous",)


# (kind class, rating key, one of the user's keys)
_Key = tuple[str, str, str]


class _Recent:
    """Keys seen within a window; insertion order is time order, so pruning is from the front."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._seen: dict[_Key, float] = {}

    def prune(self, now: float) -> None:
        while self._seen:
            key, at = next(iter(self._seen.items()))
            if now - at < self.window_s:
                return
            del self._seen[key]

    def any_seen(self, keys: list[_Key]) -> bool:
        return any(key in self._seen for key in keys)

    def remember(self, keys: list[_Key], now: float) -> None:
        for key in keys:
            self._seen.pop(key, None)
            self._seen[key] = now

    def __len__(self) -> int:
        return len(self._seen)


class PlaybackStream:
    """De-duplicated, bounded queue of playback events; iterate it or `await get()`.

    `offer` never blocks and never raises, so a webhook handler can answer at once. When the
    queue is full the oldest waiting event is dropped (and counted): the periodic sweep
    covers whatever a lost event would have triggered.
    """

    def __init__(
        self,
        bus: EventBus | None = None,
        *,
        window_s: float = 30.0,
        scrobble_memory_s: float = 6 * 3600.0,
        maxsize: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._bus = bus
        self._clock = clock
        self._queue: asyncio.Queue[Playback] = asyncio.Queue(maxsize)
        self._recent = _Recent(window_s)
        self._scrobbles = _Recent(scrobble_memory_s)
        self.queued = 0
        self.duplicates = 0
        self.overflowed = 0
        self.foreign = 0
        self.server_id: str | None = None
        self.owner_account_id: str | None = None

    def know_owner(self, account_id: str) -> None:
        """The owner's plex.tv account id: events naming it are the owner's (user 1)."""
        self.owner_account_id = account_id

    def know_server(self, server_id: str) -> None:
        """Our Plex server's machineIdentifier: events from any other server are ignored."""
        self.server_id = server_id

    def offer(self, event: Playback) -> OfferResult:
        """Queue `event` unless it repeats one accepted within the window or comes from another
        Plex server (the owner's webhooks travel with them to friends' servers, whose rating
        keys name other items). Until our server's id is known, no event is refused for it."""
        if event.server_id and self.server_id and event.server_id != self.server_id:
            self.foreign += 1
            log.info(
                "Playback %s of %s from another Plex server ignored (%d so far)",
                event.kind,
                event.rating_key,
                self.foreign,
            )
            return "foreign"
        if self.owner_account_id and event.user_id == self.owner_account_id:
            # Webhooks and Tautulli name the owner by their plex.tv id, sessions by 1.
            event = replace(event, user_id=MAIN_ID)
        now = self._clock()
        recent = self._scrobbles if event.kind == "scrobble" else self._recent
        recent.prune(now)
        keys = [(KIND_CLASS[event.kind], event.rating_key, user) for user in user_keys(event)]
        if recent.any_seen(keys):
            self.duplicates += 1
            log.debug(
                "Duplicate %s of %s from %s dropped", event.kind, event.rating_key, event.source
            )
            return "duplicate"
        recent.remember(keys, now)
        if self._queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self._queue.get_nowait()
            self.overflowed += 1
            log.warning(
                "Playback queue full: dropped its oldest event (%d so far)", self.overflowed
            )
        self._queue.put_nowait(event)
        self.queued += 1
        log.log(
            logging.INFO if event.kind in PLANNING_KINDS else logging.DEBUG,
            "Playback %s of %s (%s) by %s from %s",
            event.kind,
            event.rating_key,
            event.title or event.media_type or "item",
            event.username or event.user_id or "someone",
            event.source,
        )
        if self._bus is not None:
            self._bus.publish(event)
        return "queued"

    def requeue(self, event: Playback) -> None:
        """Put back an event already accepted (its reaction waits for Plex), no de-duplication."""
        if self._queue.full():
            self.overflowed += 1
            log.warning("Playback queue full: %s of %s not retried", event.kind, event.rating_key)
            return
        self._queue.put_nowait(event)

    async def get(self) -> Playback:
        """The next event, waiting for one."""
        return await self._queue.get()

    def get_nowait(self) -> Playback:
        """The next event if one waits (raises `asyncio.QueueEmpty` otherwise)."""
        return self._queue.get_nowait()

    def qsize(self) -> int:
        """Events waiting."""
        return self._queue.qsize()

    def stats(self) -> dict[str, int]:
        """Counters for the page and metrics."""
        return {
            "waiting": self.qsize(),
            "queued": self.queued,
            "duplicates": self.duplicates,
            "overflowed": self.overflowed,
            "foreign": self.foreign,
        }

    def __aiter__(self) -> AsyncIterator[Playback]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Playback]:
        while True:
            yield await self._queue.get()
