"""Turning a batch of events into one notification: which toggle an event belongs to, and
the short summary a person reads on a phone.

The notifier reads the typed events of `cacherr.events`: `OperationComplete` (a file is
named by its Plex path's file name), `PlexState`, `CycleComplete`, `LowSpace` and
`ConfigError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal

from cacherr import events
from cacherr.config.models import NotificationEvents
from cacherr.events import Event

Category = Literal[
    "caching_summary", "restores", "errors", "low_space", "plex_status", "sweep_summary"
]
Level = Literal["info", "success", "warning", "failure"]

# The event types the notifier subscribes to.
NOTIFIED_TYPES = frozenset(
    {
        events.OPERATION_COMPLETE,
        events.CONFIG_ERROR,
        events.LOW_SPACE,
        events.PLEX_STATE,
        events.CYCLE_COMPLETE,
    }
)

NAMES_SHOWN = 5

_TITLES: dict[Category, str] = {
    "caching_summary": "files cached",
    "restores": "files restored",
    "errors": "errors",
    "low_space": "cache pool low on space",
    "plex_status": "Plex status",
    "sweep_summary": "sweep complete",
}
_BY_TYPE: dict[str, Category] = {
    events.CONFIG_ERROR: "errors",
    events.LOW_SPACE: "low_space",
    events.PLEX_STATE: "plex_status",
    events.CYCLE_COMPLETE: "sweep_summary",
}
_ORDER: tuple[Category, ...] = (
    "errors",
    "plex_status",
    "low_space",
    "caching_summary",
    "restores",
    "sweep_summary",
)


@dataclass(frozen=True)
class Message:
    """One notification: a title, a plain-text body and apprise's notification type."""

    title: str
    body: str
    level: Level = "info"


def categorise(event: Event) -> Category | None:
    """The toggle an event falls under, or None when it is never notified."""
    if isinstance(event, events.OperationComplete):
        if event.result == "failed" or event.warning:
            return "errors"
        if event.result != "done":
            return None
        if event.kind == "cache":
            return "caching_summary"
        return "restores" if event.kind == "restore" else None  # a compare is not news
    return _BY_TYPE.get(event.type)


def enabled(category: Category, toggles: NotificationEvents) -> bool:
    """Whether the settings want this category sent."""
    return bool(getattr(toggles, category))


class PlexTransitions:
    """Keeps only "Plex is down" and the matching "Plex is back".

    `degraded` (one kind of request failing) and a first `connected` at start-up are not
    worth a message; `connected` is, once a `down` was let through.
    """

    def __init__(self) -> None:
        self._down = False

    def accept(self, event: events.PlexState) -> bool:
        """Whether this `plex_state` event is a transition to tell."""
        state = event.state
        if state == "down" and not self._down:
            self._down = True
            return True
        if state == "connected" and self._down:
            self._down = False
            return True
        return False


def human_bytes(size: float) -> str:
    """Decimal units as file managers show them: 512 B, 1.5 MB, 12.3 GB."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(size) < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def label(event: events.OperationComplete) -> str:
    """A display name for a file operation: its file name (e.g. `Show - S01E01.mkv`)."""
    return PurePosixPath(event.path).name or "an unnamed file"


def name_list(names: Sequence[str], shown: int = NAMES_SHOWN) -> str:
    """`A, B, C, …and 45 more`."""
    text = ", ".join(names[:shown])
    if len(names) > shown:
        text += f", …and {len(names) - shown} more"
    return text


def _files(count: int) -> str:
    return f"{count} file" if count == 1 else f"{count} files"


def _moved(verb: str, batch: Sequence[Event], where: str = "") -> str:
    done = [e for e in batch if isinstance(e, events.OperationComplete)]
    names = [label(e) for e in done]
    size = sum(e.size_bytes for e in done)
    sized = f" ({human_bytes(size)})" if size else ""
    return f"{verb} {_files(len(done))}{sized}{where}: {name_list(names)}"


def _errors(batch: Sequence[Event]) -> list[str]:
    lines = []
    done = [e for e in batch if isinstance(e, events.OperationComplete)]
    lines += [e.warning for e in done if e.warning]
    failed = [e for e in done if e.result == "failed"]
    if failed:
        parts = []
        for op in failed:
            parts.append(f"{op.kind} {label(op)}" + (f" ({op.error})" if op.error else ""))
        noun = "operation" if len(failed) == 1 else "operations"
        lines.append(f"{len(failed)} {noun} failed: {name_list(parts)}")
    for bad in batch:
        if isinstance(bad, events.ConfigError):
            text = bad.message or "The configuration is invalid"
            if bad.problems:
                text += ": " + "; ".join(bad.problems[:NAMES_SHOWN])
            lines.append(text)
    return lines


def _is_down(event: Event) -> bool:
    return isinstance(event, events.PlexState) and event.state == "down"


def _plex_headline(event: Event) -> str:
    return "Plex is down" if _is_down(event) else "Plex is back"


def _plex(batch: Sequence[Event]) -> list[str]:
    lines = []
    for e in batch:
        if isinstance(e, events.PlexState):
            lines.append(_plex_headline(e) + (f": {e.message}" if e.message else ""))
    return lines


def _low_space(batch: Sequence[Event]) -> list[str]:
    readings = [e for e in batch if isinstance(e, events.LowSpace)]
    if not readings:
        return []
    e = readings[-1]  # only the latest reading matters
    text = f"The cache pool is low on space: {human_bytes(e.free_bytes)} free"
    if e.total_bytes:
        text += f" of {human_bytes(e.total_bytes)}"
    if e.path:
        text += f" on {e.path}"
    return [text + (f" ({e.message})" if e.message else "")]


def _sweeps(batch: Sequence[Event]) -> list[str]:
    lines = []
    for e in batch:
        if not isinstance(e, events.CycleComplete):
            continue
        counts = [f"{e.cached} cached", f"{e.restored} restored", f"{e.evicted} evicted"]
        if e.failed:
            counts.append(f"{len(e.failed)} failed")
        lines.append(f"Sweep finished in {e.duration_s:.1f} s: {', '.join(counts)}")
    return lines


def _section(category: Category, batch: Sequence[Event]) -> list[str]:
    if category == "caching_summary":
        return [_moved("Cached", batch)]
    if category == "restores":
        return [_moved("Restored", batch, " to the array")]
    if category == "errors":
        return _errors(batch)
    if category == "plex_status":
        return _plex(batch)
    if category == "low_space":
        return _low_space(batch)
    return _sweeps(batch)


def _level(groups: dict[Category, list[Event]]) -> Level:
    plex_down = any(_is_down(e) for e in groups.get("plex_status", []))
    if "errors" in groups or plex_down:
        return "failure"
    if "low_space" in groups:
        return "warning"
    return "success"


def compose(batch: Iterable[Event], toggles: NotificationEvents) -> Message | None:
    """One message for the whole batch (None when the toggles leave nothing to say)."""
    groups: dict[Category, list[Event]] = {}
    for event in batch:
        category = categorise(event)
        if category is not None and enabled(category, toggles):
            groups.setdefault(category, []).append(event)
    if not groups:
        return None
    present = [c for c in _ORDER if c in groups]
    lines = [line for c in present for line in _section(c, groups[c])]
    if present == ["plex_status"]:
        title = f"Cacherr: {_plex_headline(groups['plex_status'][-1])}"
    else:
        title = "Cacherr: " + ", ".join(_TITLES[c] for c in present)
    return Message(title=title, body="\n".join(lines), level=_level(groups))
