"""What one playback session looks like to Cacherr, and how `/status/sessions` maps to it.

`/status/sessions` (owner token only) lists what is playing now: one element per session
(`Video`, `Track`, ...) with `sessionKey`, `ratingKey`, `type`, `viewOffset`, `duration`,
its parent keys, and children `User{id,title}`, `Player{state,title}` and `Media/Part{file}`
(the shape python-plexapi's `PlexServer.sessions()` parses). The provider reads it as plain
XML through the Plex gateway — plexapi's objects cost ~5 ms each to build, and the poll runs
on every notification — and maps it to `SessionSnapshot`s.

A transcoding session may come without `Part@file`; its files are then read from the
item's metadata (once per item), so the in-use guard still protects them.
"""

from __future__ import annotations

import time
from collections.abc import Coroutine
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal, Protocol
from xml.etree.ElementTree import Element

SessionState = Literal["playing", "paused", "buffering"]
_STATES: frozenset[str] = frozenset({"playing", "paused", "buffering"})


@dataclass(frozen=True, kw_only=True)
class SessionSnapshot:
    """One session as seen by one poll. Rating keys are strings, as in webhooks."""

    session_key: str
    rating_key: str
    media_type: str
    state: SessionState
    grandparent_rating_key: str | None = None
    parent_rating_key: str | None = None
    user_id: str | None = None
    username: str | None = None
    title: str = ""
    player: str = ""
    view_offset_ms: int = 0
    duration_ms: int | None = None
    file_paths: list[str] = field(default_factory=list)
    started_at: float | None = None

    @property
    def progress_percent(self) -> float | None:
        """How far into the item, 0–100, when the duration is known."""
        if not self.duration_ms or self.duration_ms <= 0:
            return None
        return max(0.0, min(100.0, 100.0 * self.view_offset_ms / self.duration_ms))

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form (for `GET /api/sessions`)."""
        data = asdict(self)
        percent = self.progress_percent
        data["progress_percent"] = None if percent is None else round(percent, 1)
        return data


class SessionsProvider(Protocol):
    """What the Plex gateway provides: the current sessions, or an exception when Plex is down."""

    async def __call__(self) -> list[SessionSnapshot]: ...


def _key(value: str | None) -> str | None:
    return None if value is None or value == "" else value


def _int_or_none(value: str | None) -> int | None:
    try:
        return None if value in (None, "") else int(float(value or 0))
    except ValueError:
        return None


def _title(el: Element) -> str:
    title = el.get("title") or ""
    show = el.get("grandparentTitle")
    if not show:
        return title
    season, episode = _int_or_none(el.get("parentIndex")), _int_or_none(el.get("index"))
    if el.get("type") == "episode" and season is not None and episode is not None:
        return f"{show} – S{season:02d}E{episode:02d} – {title}"
    return f"{show} – {title}"


def part_files(el: Element) -> list[str]:
    """The `Media/Part@file` paths of an item element (empty when Plex left them out)."""
    return [
        f for media in el.iter("Media") for part in media.iter("Part") if (f := part.get("file"))
    ]


def snapshot_from_xml(el: Element, *, now: float | None = None) -> SessionSnapshot | None:
    """Map one session element; None for an entry without a session or rating key."""
    session_key, rating_key = _key(el.get("sessionKey")), _key(el.get("ratingKey"))
    if session_key is None or rating_key is None:
        return None
    player, user = el.find("Player"), el.find("User")
    state = player.get("state") if player is not None else None
    return SessionSnapshot(
        session_key=session_key,
        rating_key=rating_key,
        media_type=el.get("type") or "",
        state=state if state in _STATES else "playing",  # type: ignore[arg-type]
        grandparent_rating_key=_key(el.get("grandparentRatingKey")),
        parent_rating_key=_key(el.get("parentRatingKey")),
        user_id=_key(user.get("id")) if user is not None else None,
        username=_key(user.get("title")) if user is not None else None,
        title=_title(el),
        player=(player.get("title") or "") if player is not None else "",
        view_offset_ms=_int_or_none(el.get("viewOffset")) or 0,
        duration_ms=_int_or_none(el.get("duration")),
        file_paths=part_files(el),
        started_at=now,
    )


def snapshots_from_xml(container: Element, *, now: float | None = None) -> list[SessionSnapshot]:
    """Map a `/status/sessions` MediaContainer to snapshots."""
    snapshots = []
    for el in container:
        snapshot = snapshot_from_xml(el, now=now)
        if snapshot is not None:
            snapshots.append(snapshot)
    return snapshots


class QueriesPlex(Protocol):
    """The part of the Plex gateway the provider needs: GET a path as parsed XML."""

    def query(self, key: str) -> Coroutine[Any, Any, Element]: ...


def provider_from_gateway(gateway: QueriesPlex) -> SessionsProvider:
    """A `SessionsProvider` over the gateway: `/status/sessions` read off the loop, mapped.

    Files a session leaves out (transcoding) come from the item's metadata, remembered per
    rating key (an item's files rarely change while it plays; a miss only costs a request).
    """
    files_of: dict[str, list[str]] = {}

    async def metadata_files(rating_key: str) -> list[str]:
        if rating_key not in files_of:
            container = await gateway.query(f"/library/metadata/{rating_key}")
            if len(files_of) > 1000:
                files_of.clear()
            files_of[rating_key] = [f for el in container for f in part_files(el)]
        return files_of[rating_key]

    async def fetch_sessions() -> list[SessionSnapshot]:
        now = time.time()
        snapshots = snapshots_from_xml(await gateway.query("/status/sessions"), now=now)
        for i, snapshot in enumerate(snapshots):
            if not snapshot.file_paths:
                files = await metadata_files(snapshot.rating_key)
                snapshots[i] = replace(snapshot, file_paths=list(files))
        return snapshots

    return fetch_sessions
