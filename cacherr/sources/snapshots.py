"""What one playback session looks like to Cacherr, and how plexapi's sessions map to it.

`/status/sessions` (owner token only) lists what is playing now. The Plex gateway reads it
and hands the session poller a list of `SessionSnapshot`s through a `SessionsProvider`;
`snapshots_from_plexapi` does the mapping from plexapi's session objects.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

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


def _key(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _title(session: Any) -> str:
    title = str(getattr(session, "title", "") or "")
    show = getattr(session, "grandparentTitle", None)
    if not show:
        return title
    season, episode = getattr(session, "parentIndex", None), getattr(session, "index", None)
    if session.type == "episode" and season is not None and episode is not None:
        return f"{show} – S{int(season):02d}E{int(episode):02d} – {title}"
    return f"{show} – {title}"


def _parent_rating_key(session: Any) -> str | None:
    # Episode.parentRatingKey is a property that queries Plex when the attribute is missing
    # (hidden seasons); the raw attribute never does I/O.
    if hasattr(session, "_parentRatingKey"):
        return _key(session._parentRatingKey)
    return _key(getattr(session, "parentRatingKey", None))


def _player(session: Any) -> Any:
    players = getattr(session, "players", None) or []
    return players[0] if players else None


def snapshot_from_plexapi(session: Any, *, now: float | None = None) -> SessionSnapshot | None:
    """Map one plexapi session item (`MovieSession`, `EpisodeSession`, `TrackSession`, ...).

    Returns None for an entry without a session or rating key. Reads only what plexapi
    parsed from `/status/sessions`: never `session.user`, which asks plex.tv.
    """
    session_key, rating_key = _key(session.sessionKey), _key(session.ratingKey)
    if session_key is None or rating_key is None:
        return None
    player = _player(session)
    state = getattr(player, "state", None) if player is not None else None
    usernames = list(getattr(session, "usernames", None) or [])
    files = [
        part.file
        for media in (getattr(session, "media", None) or [])
        for part in (getattr(media, "parts", None) or [])
        if getattr(part, "file", None)
    ]
    return SessionSnapshot(
        session_key=session_key,
        rating_key=rating_key,
        media_type=str(getattr(session, "type", "") or ""),
        state=state if state in _STATES else "playing",
        grandparent_rating_key=_key(getattr(session, "grandparentRatingKey", None)),
        parent_rating_key=_parent_rating_key(session),
        # The id is only kept privately by plexapi; the public `user` would ask plex.tv.
        user_id=_key(getattr(session, "_userId", None)),
        username=usernames[0] if usernames else None,
        title=_title(session),
        player=str(getattr(player, "title", "") or "") if player is not None else "",
        view_offset_ms=int(getattr(session, "viewOffset", 0) or 0),
        duration_ms=_int_or_none(getattr(session, "duration", None)),
        file_paths=files,
        started_at=now,
    )


def _int_or_none(value: Any) -> int | None:
    return None if value is None or value == "" else int(value)


def snapshots_from_plexapi(
    sessions: Iterable[Any], *, now: float | None = None
) -> list[SessionSnapshot]:
    """Map `PlexServer.sessions()` to snapshots (blocking only if plexapi is: run off the loop)."""
    snapshots = []
    for session in sessions:
        snapshot = snapshot_from_plexapi(session, now=now)
        if snapshot is not None:
            snapshots.append(snapshot)
    return snapshots


class RunsOnPlex(Protocol):
    """The part of the Plex gateway the provider needs: run a function on the PlexServer."""

    def run(self, fn: Callable[[Any], Any]) -> Coroutine[Any, Any, Any]: ...


def provider_from_gateway(gateway: RunsOnPlex) -> SessionsProvider:
    """A `SessionsProvider` over the gateway: `/status/sessions` read and mapped off the loop."""

    async def fetch_sessions() -> list[SessionSnapshot]:
        now = time.time()
        snapshots: list[SessionSnapshot] = await gateway.run(
            lambda server: snapshots_from_plexapi(server.sessions(), now=now)
        )
        return snapshots

    return fetch_sessions
