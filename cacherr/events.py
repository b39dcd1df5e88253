"""Typed events and the in-process bus every part publishes to.

An event is `{type, timestamp, data}`. Subscribers (the Socket.IO page, notifications, the
activity log, metrics) each get their own bounded queue, so a slow one never holds up the
publisher: when its queue is full the oldest event is dropped for it alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Final

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
# A playback event handled: data {user, show, cached, reason, latency_s (arrival to copy start)}.
REACTION: Final = "reaction"
# An import list was fetched (or failed): data {name, state, fetched_at, error, counts, …}.
LIST_STATE: Final = "list_state"
# The pool ran short of space (edge-triggered: once when it starts, not every check).
# data: {free_bytes, total_bytes, path, message}
LOW_SPACE: Final = "low_space"


@dataclass(frozen=True)
class Event:
    """One thing that happened."""

    type: str
    data: dict[str, Any] = field(default_factory=dict)
    timestamp: float = field(default_factory=time.time)

    def as_dict(self) -> dict[str, Any]:
        """The wire form: `{type, timestamp, data}`."""
        return {"type": self.type, "timestamp": self.timestamp, "data": self.data}


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

    def publish(self, type_: str, **data: Any) -> Event:
        """Send an event to every interested subscriber."""
        event = Event(type_, data)
        self.emit(event)
        return event

    def emit(self, event: Event) -> None:
        """Send an already built event."""
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                log.exception("Event listener failed on %s", event.type)
        for sub in self._subscriptions:
            if sub.wants(event):
                sub.offer(event)
