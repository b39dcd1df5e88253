"""Turning a batch of events into one notification: which toggle an event belongs to, and
the short summary a person reads on a phone.

The notifier reads these event fields (missing ones are tolerated):

- `operation_complete`: `kind` (`cache` | `restore` | `evict`), `result` (`done` |
  `failed`), `title` (a display name, e.g. "Show - S01E01") or else `path` /
  `cache_path` / `array_path` / `plex_path`, `size_bytes`, `error` or `message`;
- `plex_state`: `state` (`connected` | `degraded` | `down`), `message`;
- `cycle_complete`: `cached`, `restored`, `evicted`, `failed` (counts or lists),
  `duration_s`;
- `low_space`: `message`, `free_bytes`, `total_bytes`, `path`;
- `config_error`: `message`, `problems`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Literal

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
    data = event.data
    if event.type == events.OPERATION_COMPLETE:
        if data.get("result") == "failed" or data.get("warning"):
            return "errors"
        if data.get("result") != "done":
            return None
        if data.get("kind") == "cache":
            return "caching_summary"
        return "restores" if data.get("kind") in ("restore", "evict") else None
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

    def accept(self, event: Event) -> bool:
        """Whether this `plex_state` event is a transition to tell."""
        state = event.data.get("state")
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


def label(data: dict[str, Any]) -> str:
    """A display name for a file operation."""
    title = data.get("title")
    if isinstance(title, str) and title:
        return title
    for key in ("path", "cache_path", "array_path", "plex_path"):
        path = data.get(key)
        if isinstance(path, str) and path:
            return PurePosixPath(path).name
    return "an unnamed file"


def name_list(names: Sequence[str], shown: int = NAMES_SHOWN) -> str:
    """`A, B, C, …and 45 more`."""
    text = ", ".join(names[:shown])
    if len(names) > shown:
        text += f", …and {len(names) - shown} more"
    return text


def _count(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, list | tuple | set | dict):
        return len(value)
    return 0


def _files(count: int) -> str:
    return f"{count} file" if count == 1 else f"{count} files"


def _moved(verb: str, batch: Sequence[Event], where: str = "") -> str:
    names = [label(e.data) for e in batch]
    size = sum(_count(e.data.get("size_bytes")) for e in batch)
    sized = f" ({human_bytes(size)})" if size else ""
    return f"{verb} {_files(len(batch))}{sized}{where}: {name_list(names)}"


def _errors(batch: Sequence[Event]) -> list[str]:
    lines = []
    done = [e for e in batch if e.type == events.OPERATION_COMPLETE]
    lines += [str(e.data["warning"]) for e in done if e.data.get("warning")]
    failed = [e for e in done if e.data.get("result") == "failed"]
    if failed:
        parts = []
        for e in failed:
            why = e.data.get("error") or e.data.get("message")
            verb = "restore" if e.data.get("kind") in ("restore", "evict") else "cache"
            parts.append(f"{verb} {label(e.data)}" + (f" ({why})" if why else ""))
        noun = "operation" if len(failed) == 1 else "operations"
        lines.append(f"{len(failed)} {noun} failed: {name_list(parts)}")
    for e in batch:
        if e.type == events.CONFIG_ERROR:
            problems = e.data.get("problems") or []
            text = str(e.data.get("message") or "The configuration is invalid")
            if problems:
                text += ": " + "; ".join(str(p) for p in problems[:NAMES_SHOWN])
            lines.append(text)
    return lines


def _plex_headline(event: Event) -> str:
    return "Plex is down" if event.data.get("state") == "down" else "Plex is back"


def _plex(batch: Sequence[Event]) -> list[str]:
    lines = []
    for e in batch:
        message = e.data.get("message")
        lines.append(_plex_headline(e) + (f": {message}" if message else ""))
    return lines


def _low_space(batch: Sequence[Event]) -> list[str]:
    data = batch[-1].data  # only the latest reading matters
    message = data.get("message")
    free, total = data.get("free_bytes"), data.get("total_bytes")
    text = "The cache pool is low on space"
    if isinstance(free, int | float):
        text += f": {human_bytes(free)} free"
        if isinstance(total, int | float) and total:
            text += f" of {human_bytes(total)}"
    if data.get("path"):
        text += f" on {data['path']}"
    return [text + (f" ({message})" if message else "")]


def _sweeps(batch: Sequence[Event]) -> list[str]:
    lines = []
    for e in batch:
        counts = [f"{_count(e.data.get(key))} {key}" for key in ("cached", "restored", "evicted")]
        failed = _count(e.data.get("failed"))
        if failed:
            counts.append(f"{failed} failed")
        took = e.data.get("duration_s")
        timing = f" in {took:.1f} s" if isinstance(took, int | float) else ""
        lines.append(f"Sweep finished{timing}: {', '.join(counts)}")
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
    plex_down = any(e.data.get("state") == "down" for e in groups.get("plex_status", []))
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
