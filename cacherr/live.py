"""What runs now, as the event bus tells it: operations in progress with their latest progress.

A synchronous bus listener (cheap: a dict update per event), so `GET /api/operations` and a
page that connects mid-copy see the same bytes, speed and ETA the live events carry, whoever
runs the operations.
"""

from __future__ import annotations

from typing import Any

from cacherr import events
from cacherr.events import Event, EventBus


class LiveOperations:
    """Operations between `operation_started` and `operation_complete`, by id."""

    def __init__(self, bus: EventBus) -> None:
        self._active: dict[int, dict[str, Any]] = {}
        bus.listen(self._on_event)

    def _on_event(self, event: Event) -> None:
        match event:
            case events.OperationStarted():
                self._active[event.id] = {
                    "id": event.id,
                    "kind": event.kind,
                    "path": event.path,
                    "state": "running",
                    "bytes_done": 0,
                    "size": None,
                    "speed_bps": None,
                    "eta_s": None,
                    "started_at": event.timestamp,
                }
            case events.OperationProgress():
                entry = self._active.setdefault(
                    event.id, {"state": "running", "started_at": event.timestamp}
                )
                entry.update(event.data)
            case events.OperationComplete():
                self._active.pop(event.id, None)

    def active(self) -> list[dict[str, Any]]:
        """Running operations, oldest first, each with its latest progress."""
        return [dict(self._active[k]) for k in sorted(self._active)]

    def get(self, op_id: int) -> dict[str, Any] | None:
        """One running operation's latest progress."""
        entry = self._active.get(op_id)
        return dict(entry) if entry is not None else None
