"""The activity log: notable bus events kept in the `activity` table for the page's feed.

`ActivityLog` subscribes to the bus and stores one line per notable event (finished
operations, sessions starting and stopping, sweeps, Plex going up or down, configuration
problems, low space, warnings from the log), at most `max_rows` of them. `LogForwarder`
is a logging handler turning WARNING and worse records into `log` events, with every
configured secret value and every credential inside a URL masked out of the text
(`cacherr.security.masking`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

from pydantic import BaseModel, SecretStr

from cacherr import events
from cacherr.config.models import Settings
from cacherr.db import Database
from cacherr.events import Event, EventBus
from cacherr.security.masking import mask_secrets
from cacherr.tasks import cancel_and_wait

log = logging.getLogger(__name__)

MAX_ROWS = 5000
PRUNE_EVERY = 100
# Events stored in one commit at most.
BATCH_MAX = 200
MAX_DATA_CHARS = 4000


def _who_what(event: events.SessionStart | events.SessionStop) -> str:
    return f"{event.user or 'someone'}: {event.title or event.rating_key or 'an item'}"


def describe(event: Event) -> tuple[str, str] | None:
    """(level, message) of a notable event, or None for an event not worth a line.

    Too frequent to be news, and shown live on the page instead: status, stats, operations
    starting and progressing, session progress, sweep steps, playback events.
    """
    match event:
        case events.OperationComplete(kind=kind, path=path, result=result, error=error):
            verb = {"cache": "Cached", "compare": "Compared both copies of"}.get(
                kind, "Returned to the array"
            )
            if result == "done":
                return "info", f"{verb}: {path}"
            if result == "failed":
                return "error", f"{verb} failed for {path}: {error or 'unknown error'}"
            return "info", f"{verb} {result}: {path}"
        case events.SessionStart():
            return "info", f"Playing — {_who_what(event)}"
        case events.SessionStop():
            return "info", f"Stopped — {_who_what(event)}"
        case events.PlexState(state=state, message=message):
            level = "warning" if state in ("down", "degraded") else "info"
            return level, f"Plex is {state}" + (f": {message}" if message else "")
        case events.ConfigReloaded():
            return "info", "Configuration reloaded from cacherr.json"
        case events.ConfigError(message=message):
            return "error", message or "Configuration error"
        case events.LowSpace(message=message):
            return "warning", message or "The pool is running short of space"
        case events.Log(level=level, message=message):
            return level.lower(), message
        case events.CycleStart(message=message) | events.CycleComplete(message=message):
            return "info", message
        case events.Reaction(message=message):
            # Its failures also come as a `log` warning; dropped claims and list failures too.
            return "info", message
    return None


class ActivityLog:
    """A bus subscriber storing notable events; `start()` / `close()`; `recent()` reads."""

    def __init__(self, db: Database, bus: EventBus, *, max_rows: int = MAX_ROWS) -> None:
        self._db = db
        self._bus = bus
        self._max_rows = max_rows
        self._task: asyncio.Task[None] | None = None
        self._written = 0

    async def start(self) -> None:
        """Begin storing events."""
        subscription = self._bus.subscribe(maxsize=2000)
        self._task = asyncio.create_task(self._run(subscription), name="cacherr-activity")

    async def _run(self, subscription: events.Subscription) -> None:
        try:
            while True:
                # What arrived meanwhile goes in the same commit, with the claims written at
                # that moment (`Database.run` groups them): a burst of plays finishes hundreds
                # of operations, and a commit each kept the database writer (which the
                # journal and the claims wait for) busy for a second.
                batch = [await subscription.get()]
                with contextlib.suppress(asyncio.QueueEmpty):
                    while len(batch) < BATCH_MAX:
                        batch.append(subscription.get_nowait())
                try:
                    await self.store(*batch)
                except Exception:  # never through `log`: a warning would come back as an event
                    logging.getLogger("cacherr.activity.quiet").debug(
                        "Could not store %d events", len(batch), exc_info=True
                    )
        finally:
            subscription.close()

    async def store(self, *batch: Event) -> int:
        """Store the notable ones of `batch` in one commit; returns how many were stored."""
        rows = []
        for event in batch:
            described = describe(event)
            if described is None:
                continue
            level, message = described
            data = json.dumps(event.data, default=str)
            rows.append((event.timestamp, level, event.type, message, data[:MAX_DATA_CHARS]))
        if not rows:
            return 0
        sql = "INSERT INTO activity (ts, level, type, message, data) VALUES (?, ?, ?, ?, ?)"
        # A feed: a power cut may lose its last lines, never a file.
        await self._db.run(lambda conn: conn.executemany(sql, rows), durable=False)
        before, self._written = self._written, self._written + len(rows)
        if before // PRUNE_EVERY != self._written // PRUNE_EVERY:
            await self.prune()
        return len(rows)

    async def prune(self) -> None:
        """Keep the newest `max_rows` lines."""
        await self._db.execute(
            "DELETE FROM activity WHERE id <= (SELECT MAX(id) FROM activity) - ?",
            (self._max_rows,),
            durable=False,
        )

    async def recent(
        self, *, limit: int = 100, before_id: int | None = None, level: str | None = None
    ) -> list[dict[str, Any]]:
        """The newest lines first, optionally older than `before_id` or of one level."""
        where: list[str] = []
        params: list[object] = []
        if before_id is not None:
            where.append("id < ?")
            params.append(before_id)
        if level:
            where.append("level = ?")
            params.append(level)
        sql = "SELECT id, ts, level, type, message FROM activity"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = await self._db.fetchall(f"{sql} ORDER BY id DESC LIMIT ?", [*params, limit])
        return [
            {"id": r[0], "ts": r[1], "level": r[2], "type": r[3], "message": r[4]} for r in rows
        ]

    async def close(self) -> None:
        """Stop storing events."""
        await cancel_and_wait(self._task)


def _secrets_of(value: Any) -> Iterator[str]:
    if isinstance(value, SecretStr):
        yield value.get_secret_value()
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _secrets_of(getattr(value, name))
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _secrets_of(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _secrets_of(item)


def secret_values(settings: Settings) -> list[str]:
    """Every configured secret value (long enough to be worth masking), longest first."""
    return sorted({s for s in _secrets_of(settings) if len(s) >= 4}, key=len, reverse=True)


class LogForwarder(logging.Handler):
    """Publishes WARNING and worse log records as `log` events (secrets masked, no traceback)."""

    def __init__(
        self,
        bus: EventBus,
        loop: asyncio.AbstractEventLoop,
        settings: Callable[[], Settings],
        level: int = logging.WARNING,
    ) -> None:
        super().__init__(level)
        self._bus = bus
        self._loop = loop
        self._settings = settings
        self._thread = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        """Forward one record."""
        if record.name.startswith("cacherr.activity"):
            return  # its own troubles would loop back here
        try:
            message = mask_secrets(record.getMessage(), secret_values(self._settings()))
            event = events.Log(level=record.levelname, logger=record.name, message=message)
            if threading.get_ident() == self._thread:
                self._bus.publish(event)
            else:  # a closing loop has nobody left to tell
                with contextlib.suppress(RuntimeError):
                    self._loop.call_soon_threadsafe(self._bus.publish, event)
        except Exception:
            self.handleError(record)
