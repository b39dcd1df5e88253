"""The session poller: Plex's current sessions, every few seconds, as playback events.

Each poll asks the Plex gateway for a list of `SessionSnapshot`s and diffs it against the
previous one: a new session is a play, a session gone is a stop, playing ↔ paused is a
pause or a resume, and crossing `sessions.scrobble_percent` is a scrobble (the stream drops
it when a webhook already said so). The page hears `session_start` / `session_progress` /
`session_stop`; the reactor asks `is_active(path)` before restoring a file.

Plex's notification socket (`plex_socket.py`) wakes the poller the moment a session changes:
the poll then runs at once and its events carry the source `socket`. While the socket is
healthy the timer slows to `SOCKET_SLOWDOWN` × `sessions.poll_interval_s` (a safety net for
a notice lost); progress reports wake it at most once per interval (scrobbles).

A Plex that is down is logged once per outage; the last known sessions stay active meanwhile
(better to keep a file cached a little longer than to pull it from under a viewer).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import replace

from cacherr import events
from cacherr.config.models import SessionsConfig
from cacherr.events import EventBus, Playback, PlaybackKind, PlaybackSource
from cacherr.sources.playback import PlaybackStream
from cacherr.sources.snapshots import SessionSnapshot, SessionsProvider
from cacherr.tasks import cancel_and_wait

log = logging.getLogger(__name__)

_RUNNING = frozenset({"playing", "buffering"})
# While the notification socket is healthy, the timer only backs it up.
SOCKET_SLOWDOWN = 6.0


def session_event(
    kind: type[events.SessionStart | events.SessionProgress | events.SessionStop],
    snapshot: SessionSnapshot,
) -> events.Event:
    """What the page is told about a session: no token, no address."""
    percent = snapshot.progress_percent
    return kind(
        session_key=snapshot.session_key,
        rating_key=snapshot.rating_key,
        media_type=snapshot.media_type,
        user=snapshot.username or snapshot.user_id or "",
        title=snapshot.title,
        progress_percent=None if percent is None else round(percent, 1),
        state=snapshot.state,
        player=snapshot.player,
    )


class SessionPoller:
    """A small long-running task: `start()`, `close()`; tests drive `poll_once()`."""

    def __init__(
        self,
        fetch_sessions: SessionsProvider,
        stream: PlaybackStream,
        bus: EventBus,
        *,
        config: Callable[[], SessionsConfig] = SessionsConfig,
        should_poll: Callable[[], bool] = lambda: True,
        socket_healthy: Callable[[], bool] = lambda: False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._fetch = fetch_sessions
        self._stream = stream
        self._bus = bus
        self._config = config
        self._should_poll = should_poll
        self.socket_healthy = socket_healthy
        self._clock = clock
        self._woken = asyncio.Event()
        self._last_poll_at = float("-inf")
        self._source: PlaybackSource = "poll"
        self.polls = 0
        self._sessions: dict[str, SessionSnapshot] = {}
        self._scrobbled: set[tuple[str, str]] = set()
        self._down = False
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def plex_down(self) -> bool:
        """Whether the last poll failed."""
        return self._down

    def current(self) -> list[SessionSnapshot]:
        """The sessions known now, oldest first."""
        return sorted(self._sessions.values(), key=lambda s: (s.started_at or 0.0, s.session_key))

    def active_paths(self) -> frozenset[str]:
        """Plex paths of every file in an active session."""
        return frozenset(p for s in self._sessions.values() for p in s.file_paths)

    def is_active(self, plex_path: str) -> bool:
        """Whether a file (as Plex names it) is being played now."""
        return any(plex_path in s.file_paths for s in self._sessions.values())

    async def start(self) -> None:
        """Begin polling."""
        self._stop.clear()
        self._task = asyncio.create_task(self._run(), name="session-poller")

    async def close(self) -> None:
        """Stop polling."""
        self._stop.set()
        await cancel_and_wait(self._task)
        self._task = None

    def wake(self, urgent: bool = True) -> None:
        """Poll now: a session changed (`urgent`), or it progressed (at most once an interval)."""
        if urgent or time.monotonic() - self._last_poll_at >= self._config().poll_interval_s:
            self._woken.set()

    def interval_s(self) -> float:
        """Seconds until the next timed poll: slower while the notification socket is healthy."""
        interval = self._config().poll_interval_s
        return interval * SOCKET_SLOWDOWN if self.socket_healthy() else interval

    async def _run(self) -> None:
        while not self._stop.is_set():
            woken = self._woken.is_set()
            self._woken.clear()
            try:
                if self._config().enabled and self._should_poll():
                    await self.poll_once(source="socket" if woken else "poll")
                elif self._sessions:
                    self.forget()
            except Exception:
                log.exception("Session poll failed; polling goes on")
            stop, woke = (
                asyncio.ensure_future(self._stop.wait()),
                asyncio.ensure_future(self._woken.wait()),
            )
            try:
                await asyncio.wait(
                    {stop, woke}, timeout=self.interval_s(), return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                stop.cancel()
                woke.cancel()

    async def poll_once(self, source: PlaybackSource = "poll") -> bool:
        """Poll Plex once and emit what changed; False when Plex did not answer.

        `source` names what prompted the poll (`socket` when Plex's notification woke it).
        """
        self._last_poll_at = time.monotonic()
        self._source = source
        try:
            snapshots = await self._fetch()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.polls += 1
            if not self._down:
                self._down = True
                log.warning(
                    "Plex sessions unavailable (%s: %s); still polling, keeping %d known "
                    "session(s) active",
                    type(exc).__name__,
                    exc,
                    len(self._sessions),
                )
            return False
        if self._down:
            self._down = False
            log.info("Plex sessions available again")
        self._apply(snapshots)
        self.polls += 1
        return True

    def forget(self) -> None:
        """Drop every known session without playback events (polling was turned off)."""
        for snapshot in self._sessions.values():
            self._bus.publish(session_event(events.SessionStop, snapshot))
        self._sessions.clear()
        self._scrobbled.clear()

    def _apply(self, snapshots: list[SessionSnapshot]) -> None:
        now = self._clock()
        seen: dict[str, SessionSnapshot] = {}
        for snapshot in snapshots:
            key = snapshot.session_key
            before = seen.get(key) or self._sessions.get(key)
            if before is not None and before.rating_key != snapshot.rating_key:
                # Some clients keep the session key when playing on to the next item.
                self._ended(before)
                before = None
            if before is None:
                current = replace(snapshot, started_at=snapshot.started_at or now)
                self._emit("play", current)
                self._bus.publish(session_event(events.SessionStart, current))
            else:
                current = replace(snapshot, started_at=before.started_at)
                self._changed(before, current)
            self._maybe_scrobble(current)
            seen[key] = current
        for key, before in self._sessions.items():
            if key not in seen:
                self._ended(before)
        self._sessions = seen

    def _changed(self, before: SessionSnapshot, current: SessionSnapshot) -> None:
        if before.state in _RUNNING and current.state == "paused":
            self._emit("pause", current)
        elif before.state == "paused" and current.state in _RUNNING:
            self._emit("resume", current)
        if (before.state, before.view_offset_ms) != (current.state, current.view_offset_ms):
            self._bus.publish(session_event(events.SessionProgress, current))

    def _ended(self, snapshot: SessionSnapshot) -> None:
        self._emit("stop", snapshot)
        self._scrobbled.discard((snapshot.session_key, snapshot.rating_key))
        self._bus.publish(session_event(events.SessionStop, snapshot))

    def _maybe_scrobble(self, snapshot: SessionSnapshot) -> None:
        percent = snapshot.progress_percent
        marker = (snapshot.session_key, snapshot.rating_key)
        if (
            percent is None
            or percent < self._config().scrobble_percent
            or marker in self._scrobbled
        ):
            return
        self._scrobbled.add(marker)
        self._emit("scrobble", snapshot)

    def _emit(self, kind: PlaybackKind, snapshot: SessionSnapshot) -> None:
        self._stream.offer(
            Playback(
                kind=kind,
                rating_key=snapshot.rating_key,
                source=self._source,
                media_type=snapshot.media_type,
                grandparent_rating_key=snapshot.grandparent_rating_key,
                parent_rating_key=snapshot.parent_rating_key,
                user_id=snapshot.user_id,
                username=snapshot.username,
                title=snapshot.title,
                view_offset_ms=snapshot.view_offset_ms,
                duration_ms=snapshot.duration_ms,
                session_key=snapshot.session_key,
                received_at=self._clock(),
            )
        )
