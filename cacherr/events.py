"""Typed events and the in-process bus every part publishes to.

Each kind of event is one frozen dataclass below, named after what happened, with the
fields its producer fills in and its consumers read: the page (Socket.IO), notifications,
the activity log, metrics and the live operations list. A producer builds the class and
publishes it; a consumer narrows with `isinstance` and reads attributes, so a field one
side renames or forgets is a type error (mypy), not a silent `None` on the other side.
Every type lives in this module, so adding one is a change reviewers see in one place.

On the wire (Socket.IO, the activity table) an event is `{type, timestamp, data}`: `type`
is the class's fixed name, `data` its fields. Subscribers each get their own bounded
queue, so a slow one never holds up the publisher: when its queue is full the oldest event
is dropped for it alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, Literal

log = logging.getLogger(__name__)

# The event names other people depend on (Socket.IO clients, notification toggles).
STATUS: Final = "status"
STATS: Final = "stats"
OPERATION_STARTED: Final = "operation_started"
OPERATION_PROGRESS: Final = "operation_progress"
OPERATION_COMPLETE: Final = "operation_complete"
SESSION_START: Final = "session_start"
SESSION_PROGRESS: Final = "session_progress"
SESSION_STOP: Final = "session_stop"
CYCLE_START: Final = "cycle_start"
CYCLE_PROGRESS: Final = "cycle_progress"
CYCLE_COMPLETE: Final = "cycle_complete"
LOG: Final = "log"
CONFIG_RELOADED: Final = "config_reloaded"
CONFIG_ERROR: Final = "config_error"
PLEX_STATE: Final = "plex_state"
PLAYBACK: Final = "playback"
REACTION: Final = "reaction"
LIST_STATE: Final = "list_state"
LOW_SPACE: Final = "low_space"
CLAIMS_DROPPED: Final = "claims_dropped"

# An eviction is a restore made to free room: the executor knows only these two kinds.
# A compare is the maintenance fix reading both copies of a duplicate (its progress shows).
OperationKind = Literal["cache", "restore", "compare"]
OperationResult = Literal["done", "failed", "cancelled", "skipped"]


_PLAIN = (str, int, float, type(None))


_FIELDS: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELDS.get(cls)
    if names is None:
        fields = dataclasses.fields(cls)
        names = _FIELDS[cls] = tuple(f.name for f in fields if f.name != "timestamp")
    return names


@dataclass(frozen=True, kw_only=True)
class Event:
    """One thing that happened; subclasses name it (`type`) and carry its fields."""

    type: ClassVar[str]
    timestamp: float = field(default_factory=time.time)

    @property
    def data(self) -> dict[str, Any]:
        """The fields, JSON-ready (what the page receives as `data`)."""
        data = {name: getattr(self, name) for name in _field_names(type(self))}
        if not all(isinstance(v, _PLAIN) for v in data.values()):
            # Nested values (lists, dataclasses) are copied as `asdict` does; most events
            # are plain fields, and a burst of plays makes hundreds of them.
            data = dataclasses.asdict(self)
            del data["timestamp"]
        return data

    def wire(self) -> dict[str, Any]:
        """The wire form (Socket.IO): `{type, timestamp, data}`."""
        return {"type": self.type, "timestamp": self.timestamp, "data": self.data}


# --- the page's state --------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Status(Event):
    """The snapshot a page starts from: one part per registered provider (never on the bus)."""

    type: ClassVar[str] = STATUS
    parts: dict[str, Any]

    @property
    def data(self) -> dict[str, Any]:
        """The parts themselves, by name."""
        return dict(self.parts)


@dataclass(frozen=True, kw_only=True)
class Stats(Event):
    """A point of the pool's usage (bytes), sampled after changes and on a timer."""

    type: ClassVar[str] = STATS
    total_bytes: int
    free_bytes: int
    used_bytes: int
    limit_bytes: int
    min_free_bytes: int
    files: int
    pools: int
    used_percent: float | None


# --- operations (the executor) -----------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class OperationStarted(Event):
    """An operation on one file began; `path` is the Plex path."""

    type: ClassVar[str] = OPERATION_STARTED
    id: int
    kind: OperationKind
    path: str


@dataclass(frozen=True, kw_only=True)
class OperationProgress(Event):
    """A running copy's progress, a few times a second at most."""

    type: ClassVar[str] = OPERATION_PROGRESS
    id: int
    kind: OperationKind
    path: str
    bytes_done: int
    size: int
    speed_bps: int
    eta_s: float | None


@dataclass(frozen=True, kw_only=True)
class OperationComplete(Event):
    """An operation ended: `result` done, failed or cancelled; `error` says why when not."""

    type: ClassVar[str] = OPERATION_COMPLETE
    id: int
    kind: OperationKind
    path: str
    result: OperationResult
    error: str | None
    duration_s: float
    size_bytes: int
    # Done, but the user must hear of it (e.g. a damaged cache copy was dropped, the original
    # kept): notified under errors.
    warning: str | None = None


# --- Plex sessions (the poller) ----------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class _Session(Event):
    """What the page is told about a session: no token, no address."""

    session_key: str
    rating_key: str
    media_type: str
    user: str
    title: str
    progress_percent: float | None
    state: str
    player: str


@dataclass(frozen=True, kw_only=True)
class SessionStart(_Session):
    """A session appeared (or changed item)."""

    type: ClassVar[str] = SESSION_START


@dataclass(frozen=True, kw_only=True)
class SessionProgress(_Session):
    """A known session moved on."""

    type: ClassVar[str] = SESSION_PROGRESS


@dataclass(frozen=True, kw_only=True)
class SessionStop(_Session):
    """A session ended (or left that item)."""

    type: ClassVar[str] = SESSION_STOP


# --- intake and reactions ----------------------------------------------------------------


PlaybackKind = Literal["play", "resume", "pause", "stop", "scrobble", "new", "ondeck"]
PlaybackSource = Literal["plex_webhook", "tautulli", "poll", "socket"]


@dataclass(frozen=True, kw_only=True)
class Playback(Event):
    """Something a user did with an item, from any source (a Plex webhook, Tautulli, the
    session poller, Plex's notification socket). The same object goes on the playback stream
    for the reactor and out on the bus for the page. Rating keys are strings.

    `server_id` is the machineIdentifier of the Plex server it happened on, when the source
    says (a Plex webhook's `Server.uuid`, Tautulli's `{server_machine_id}`).
    """

    type: ClassVar[str] = PLAYBACK
    kind: PlaybackKind
    rating_key: str
    source: PlaybackSource
    media_type: str = ""
    grandparent_rating_key: str | None = None
    parent_rating_key: str | None = None
    user_id: str | None = None
    username: str | None = None
    title: str = ""
    view_offset_ms: int | None = None
    duration_ms: int | None = None
    session_key: str | None = None
    server_id: str | None = None
    received_at: float = field(default_factory=time.time)


@dataclass(frozen=True, kw_only=True)
class Reaction(Event):
    """A playback event handled: what it claimed and handed to the executor.

    `latency_s` runs from the event's arrival to its copies queued; `error` is set when the
    reaction could not be made (Plex or the database failing), with `reason` saying why.
    """

    type: ClassVar[str] = REACTION
    user: str
    show: str
    kind: str
    reason: str
    cached: int = 0
    restored: int = 0
    evicted: int = 0
    held: int = 0
    claimed: int = 0
    released: int = 0
    unfit: int = 0
    dropped: int = 0
    error: bool = False
    message: str = ""
    latency_s: float = 0.0
    duration_ms: float = 0.0


@dataclass(frozen=True)
class DroppedClaim:
    """A file whose claims were dropped, and why (gone from the array, outside the roots)."""

    path: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class ClaimsDropped(Event):
    """Claims on files that cannot be cached were released."""

    type: ClassVar[str] = CLAIMS_DROPPED
    files: tuple[DroppedClaim, ...]


# --- sweeps ------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CycleStart(Event):
    """A sweep began; `steps` are the names its `cycle_progress` events will report."""

    type: ClassVar[str] = CYCLE_START
    steps: tuple[str, ...]
    message: str


@dataclass(frozen=True, kw_only=True)
class CycleProgress(Event):
    """A sweep finished step `done` of `total`."""

    type: ClassVar[str] = CYCLE_PROGRESS
    step: str
    done: int
    total: int


@dataclass(frozen=True, kw_only=True)
class CycleComplete(Event):
    """A sweep finished: counts handed to the executor, and what failed (source → reason)."""

    type: ClassVar[str] = CYCLE_COMPLETE
    cached: int
    restored: int
    evicted: int
    unfit: int
    duration_s: float
    failed: dict[str, str]
    message: str


# --- the outside world and the daemon ----------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PlexState(Event):
    """The Plex connection changed: `state` connected, degraded, down or not_configured."""

    type: ClassVar[str] = PLEX_STATE
    state: str
    message: str
    since: float
    previous: str


@dataclass(frozen=True, kw_only=True)
class ListState(Event):
    """An import list was fetched (or failed); `counts` are its matches by state."""

    type: ClassVar[str] = LIST_STATE
    name: str
    state: str
    fetched_at: float | None
    attempted_at: float | None
    error: str | None
    item_count: int
    truncated: bool
    counts: dict[str, int]


@dataclass(frozen=True, kw_only=True)
class LowSpace(Event):
    """The pool ran short of space (edge-triggered: once when it starts, not every check)."""

    type: ClassVar[str] = LOW_SPACE
    free_bytes: int
    total_bytes: int
    path: str
    message: str


@dataclass(frozen=True, kw_only=True)
class ConfigReloaded(Event):
    """`cacherr.json` changed and the new settings run."""

    type: ClassVar[str] = CONFIG_RELOADED
    path: str


@dataclass(frozen=True, kw_only=True)
class ConfigError(Event):
    """An edit to `cacherr.json` was refused; the running settings stay. One line a problem."""

    type: ClassVar[str] = CONFIG_ERROR
    message: str
    problems: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Log(Event):
    """A WARNING or worse log record, secrets masked."""

    type: ClassVar[str] = LOG
    level: str
    logger: str
    message: str


# --- the bus -----------------------------------------------------------------------------


class Subscription:
    """A subscriber's queue; iterate it, or `get()` one event at a time."""

    def __init__(self, bus: EventBus, types: frozenset[str] | None, maxsize: int) -> None:
        self._bus = bus
        self._types = types
        self._queue: asyncio.Queue[Event] = asyncio.Queue(maxsize)
        self.dropped = 0

    def wants(self, event: Event) -> bool:
        """Whether this subscriber asked for events of this type."""
        return self._types is None or event.type in self._types

    def offer(self, event: Event) -> None:
        """Queue without waiting; on overflow drop this subscriber's oldest event."""
        if self._queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(event)

    async def get(self) -> Event:
        """The next event."""
        return await self._queue.get()

    def get_nowait(self) -> Event:
        """The next event if one is waiting (raises `asyncio.QueueEmpty` otherwise)."""
        return self._queue.get_nowait()

    def close(self) -> None:
        """Stop receiving events."""
        self._bus.unsubscribe(self)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            yield await self._queue.get()


class EventBus:
    """Fan-out of events to subscribers; `publish` never blocks and never raises."""

    def __init__(self) -> None:
        self._subscriptions: list[Subscription] = []
        self._listeners: list[Callable[[Event], None]] = []

    def subscribe(self, types: set[str] | None = None, *, maxsize: int = 1000) -> Subscription:
        """A new queue of the events of `types` (all when None)."""
        sub = Subscription(self, frozenset(types) if types is not None else None, maxsize)
        self._subscriptions.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Forget a subscription."""
        with contextlib.suppress(ValueError):
            self._subscriptions.remove(sub)

    def listen(self, listener: Callable[[Event], None]) -> None:
        """Call `listener` synchronously for every event (must be quick, e.g. a counter)."""
        self._listeners.append(listener)

    def publish(self, event: Event) -> Event:
        """Send an event to every listener and interested subscriber."""
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                log.exception("Event listener failed on %s", event.type)
        for sub in self._subscriptions:
            if sub.wants(event):
                sub.offer(event)
        return event
