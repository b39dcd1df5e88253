"""The reaction: a worker that turns each playback event into claims and a small plan.

A play (or resume) of episode E by user U claims E and the episodes after it, replacing U's
previous `playing` / `next_up` claims on that show in one transaction; a scrobble slides the
window by one (E is released: its retention starts); a movie play claims the movie; a
`library.new` episode re-resolves the window of everyone watching that show. Only the files
of that window are planned and handed to the executor: never a sweep, and no Plex call
beyond resolving the show (the library keeps that answer for a while).

While Plex is not connected, events wait on the stream (bounded; the oldest go first) and
are handled once it is: a reaction without Plex could resolve nothing. Events are handled
up to `REACTIONS_AT_ONCE` at a time, one at a time per (user, show), so a burst of plays of
different shows is not served one after the other; the windows they work out are written
in rounds (`reactor.rounds`). While an event that plans is being worked out, the executor
keeps a copy slot for the first item it brings (`Executor.play_coming`). The worker owns its
task: a webhook client hanging up cannot cancel the work its event started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from typing import Final

from cacherr import events
from cacherr.claims import Claim, UserKind
from cacherr.config.models import Settings
from cacherr.errors import CacherrError, DatabaseUnwritable
from cacherr.events import EventBus, Playback, Reaction
from cacherr.plex.errors import PlexError, PlexUnavailable
from cacherr.plex.library import ItemRef, Library
from cacherr.plex.users import MAIN_ID, EffectivePolicy, PlexUser, UserDirectory, effective_policy
from cacherr.reactor.engine import CacheEngine
from cacherr.reactor.rounds import Window, WindowRounds
from cacherr.reactor.window import WINDOW_SOURCES, Link, describe, episode_window, movie_window
from cacherr.sources.playback import PLANNING_KINDS, PlaybackStream
from cacherr.tasks import cancel_and_wait

log = logging.getLogger(__name__)

# A reaction Plex dropped out of is tried again when Plex is back, this many times at most.
REACTION_TRIES: Final = 5
RETRY_DELAY_S: Final = 0.5
# A reaction mostly waits: for Plex (its calls bounded by the gateway's worker threads) and
# for its round to be written. With 8 at a time, those waiting for their round held the
# places of plays that could already be asking Plex; with 32, a burst's plays all ask Plex
# while the first windows are written, and the rounds are fewer and fuller.
REACTIONS_AT_ONCE: Final = 32


class Reactor:
    """Consumes the playback stream: `start()`, `close()`, and `run_until_idle()` for tests."""

    def __init__(
        self,
        stream: PlaybackStream,
        engine: CacheEngine,
        library: Library | None,
        users: UserDirectory | None,
        settings: Callable[[], Settings],
        bus: EventBus,
        *,
        concurrency: int = REACTIONS_AT_ONCE,
        ready: Callable[[], bool] = lambda: True,
    ) -> None:
        self._stream = stream
        self._engine = engine
        self._rounds = WindowRounds(engine)
        self._library = library
        self._users = users
        self._settings = settings
        self._bus = bus
        self._limit = asyncio.Semaphore(concurrency)
        self._locks: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}
        self._pending = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._ready = ready
        self._wake = asyncio.Event()
        self._tries: dict[Playback, int] = {}
        self._requeues: set[asyncio.Task[None]] = set()
        bus.listen(self._on_bus_event)

    def _on_bus_event(self, event: events.Event) -> None:
        if isinstance(event, events.PlexState):
            self._wake.set()

    # --- lifetime ------------------------------------------------------------------------

    async def start(self) -> None:
        """Begin consuming the stream."""
        self._task = asyncio.create_task(self._dispatch(), name="reactor")

    async def close(self, *, grace_s: float = 5.0) -> None:
        """Stop taking events; give reactions in progress a moment, then cancel them."""
        for retry in [*self._requeues]:
            retry.cancel()
        await cancel_and_wait(self._task)
        self._task = None
        if self._running:
            _, late = await asyncio.wait(self._running, timeout=grace_s)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late)
        await self._rounds.close()

    def _retry_later(self, event: Playback, reason: str) -> bool:
        # Plex went away under the reaction, or the state database could not be written (a
        # full disk): the event goes back on the stream, where the dispatcher holds it until
        # Plex is back, instead of being lost. A few tries only, in case Plex answers
        # everything but this item or the disk stays full (the sweep catches up later).
        tries = self._tries.get(event, 0) + 1
        if tries > REACTION_TRIES:
            return False
        self._tries[event] = tries
        log.info("%s; the %s of %s waits", reason, event.kind, event.rating_key)

        async def requeue() -> None:
            await asyncio.sleep(RETRY_DELAY_S * tries)
            self._stream.requeue(event)
            self._wake.set()

        task = asyncio.create_task(requeue(), name=f"reaction-retry-{event.rating_key}")
        self._requeues.add(task)
        task.add_done_callback(self._requeues.discard)
        return True

    async def run_until_idle(self) -> None:
        """Return once no event waits and no reaction runs (tests wait on this)."""
        while self._stream.qsize() or self._pending:
            self._idle.clear()
            await self._idle.wait()

    async def _dispatch(self) -> None:
        while True:
            if not self._ready():
                self._wake.clear()
                await self._wake.wait()
                continue
            event = await self._stream.get()
            self._pending += 1
            self._idle.clear()
            task = asyncio.create_task(self._one(event), name=f"reaction-{event.rating_key}")
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _one(self, event: Playback) -> None:
        key = (event.user_id or event.username or "", event.grandparent_rating_key or "")
        if not key[1]:
            key = (key[0], event.rating_key)
        lock, count = self._locks.get(key) or (asyncio.Lock(), 0)
        self._locks[key] = (lock, count + 1)
        try:
            with self._coming(event):
                async with lock, self._limit:
                    await self.handle(event)
        finally:
            lock, count = self._locks[key]
            if count <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, count - 1)
            self._pending -= 1
            if not self._pending and not self._stream.qsize():
                self._idle.set()

    def _coming(self, event: Playback) -> contextlib.AbstractContextManager[None]:
        executor = self._engine.executor
        if executor is None or event.kind not in PLANNING_KINDS:
            return contextlib.nullcontext()
        return executor.play_coming()

    # --- reactions -----------------------------------------------------------------------

    async def handle(self, event: Playback) -> Reaction | None:
        """React to one event; returns what the `reaction` event said (None: nothing to do)."""
        started = time.monotonic()
        try:
            if event.kind in ("play", "resume"):
                result = await self._played(event, scrobbled=False)
            elif event.kind == "scrobble":
                result = await self._played(event, scrobbled=True)
            elif event.kind == "new":
                result = await self._new(event)
            else:
                return None
        except (PlexError, CacherrError) as exc:
            reason = exc.message
            transient = isinstance(exc, (PlexUnavailable, DatabaseUnwritable))
            if transient and self._retry_later(event, reason):
                return None
            log.warning("No reaction to %s of %s: %s", event.kind, event.rating_key, reason)
            who = event.username or event.user_id or ""
            result = Reaction(user=who, show=event.title, kind=event.kind, reason=reason,
                              error=True)  # fmt: skip
        except Exception:
            log.exception("Reaction to %s of %s failed", event.kind, event.rating_key)
            return None
        self._tries.pop(event, None)
        if result is not None:
            cached = result.cached
            result = replace(
                result,
                duration_ms=round((time.monotonic() - started) * 1000, 1),
                # From the event's arrival (webhook received, session polled) to its copies queued.
                latency_s=round(max(self._engine.clock() - event.received_at, 0.0), 4),
                message=result.reason + (f": {cached} to cache" if cached else ""),
            )
            self._bus.publish(result)
        return result

    async def _played(self, event: Playback, *, scrobbled: bool) -> Reaction | None:
        user, policy = await self._who(event.user_id, event.username)
        if not policy.enabled:
            return self._skipped(user, event, "caching is off for this user")
        if self._users is not None and user.id and not user.id.startswith("name:"):
            # Written in the background with the rest of a burst's: the window does not wait.
            self._users.note(user.id, event.received_at)
        library = self._need_library()
        settings = self._settings()
        media_type = event.media_type
        item: ItemRef | None = None
        if media_type not in ("movie", "episode"):
            item = await library.item(event.rating_key)
            media_type = item.type
        if media_type == "movie":
            movie = item or await library.item(event.rating_key)
            links = [] if scrobbled else movie_window(movie, user, settings)
            return await self._apply(user, policy, movie.rating_key, links, event.kind,
                                     describe(movie))  # fmt: skip
        if media_type != "episode":
            return None
        show_key = event.grandparent_rating_key or (item.show_key if item else None)
        show_key = show_key or await library.show_of(event.rating_key)
        if show_key is None:
            return None
        episodes = await library.episodes(show_key)
        anchor = next((e for e in episodes if e.rating_key == event.rating_key), None)
        if anchor is None:  # added since the library's answer was kept
            library.invalidate(show_key)
            episodes = await library.episodes(show_key)
            anchor = next((e for e in episodes if e.rating_key == event.rating_key), None)
        anchor = anchor or item or await library.item(event.rating_key)
        links = episode_window(episodes, anchor, user, settings, scrobbled=scrobbled)
        return await self._apply(user, policy, show_key, links, event.kind, describe(anchor))

    async def _new(self, event: Playback) -> Reaction | None:
        library = self._need_library()
        kind = event.media_type
        if kind == "movie":
            return None
        show_key = event.grandparent_rating_key
        if show_key is None and kind == "season":
            show_key = event.parent_rating_key
        if show_key is None and kind == "show":
            show_key = event.rating_key
        if show_key is None:
            show_key = await library.show_of(event.rating_key)
        if show_key is None:
            return None
        library.invalidate(show_key)
        claims = await self._engine.store.for_show(show_key)
        by_user: dict[str, list[Claim]] = defaultdict(list)
        for claim in claims:
            if claim.source in WINDOW_SOURCES:
                by_user[claim.user_id].append(claim)
        if not by_user:
            return None
        episodes = await library.episodes(show_key)
        position = {e.rating_key: i for i, e in enumerate(episodes)}
        cached, users = 0, []
        for user_id, held in sorted(by_user.items()):
            playing = next((c.rating_key for c in held if c.source == "playing"), None)
            scrobbled = playing not in position
            if scrobbled:
                first = min((position[c.rating_key] for c in held if c.rating_key in position),
                            default=None)  # fmt: skip
                if first is None:
                    continue  # none of its episodes is in the library any more
                # The window starts after a watched episode, or (current item off) at the
                # first episode, which was then the one playing.
                scrobbled = first > 0
                anchor = episodes[first - 1 if scrobbled else 0]
            else:
                anchor = episodes[position[playing or ""]]
            user, policy = await self._who(user_id, None)
            links = episode_window(episodes, anchor, user, self._settings(), scrobbled=scrobbled)
            result = await self._apply(user, policy, show_key, links, "new", describe(anchor))
            cached += result.cached
            users.append(user.name)
        return Reaction(user=", ".join(users), show=event.title, kind="new", cached=cached,
                        reason=f"new episode {event.title or event.rating_key}")  # fmt: skip

    async def _apply(
        self,
        user: PlexUser,
        policy: EffectivePolicy,
        window_key: str,
        links: list[Link],
        kind: str,
        what: str,
    ) -> Reaction:
        written = await self._rounds.write(Window(user, policy, window_key, links))
        submitted = written.submitted
        verb = {"scrobble": "watched", "new": "new episode for"}.get(kind, "playing")
        return Reaction(
            user=user.name,
            show=what,
            kind=kind,
            cached=submitted.cached,
            restored=submitted.restored,
            evicted=submitted.evicted,
            held=len(submitted.held),
            claimed=len(written.claims),
            released=len(written.change.released),
            unfit=written.unfit,
            dropped=written.dropped,
            reason=f"{user.name} {verb} {what}",
        )

    def _skipped(self, user: PlexUser, event: Playback, why: str) -> Reaction:
        return Reaction(user=user.name, show=event.title, kind=event.kind, reason=why)

    def _need_library(self) -> Library:
        if self._library is None:
            raise CacherrError("Plex is not wired in: no library to resolve items with")
        return self._library

    async def _who(
        self, user_id: str | None, username: str | None
    ) -> tuple[PlexUser, EffectivePolicy]:
        """The user an event names, with their settings (unknown users: their type's defaults)."""
        user: PlexUser | None = None
        if self._users is not None:
            if user_id:
                user = await self._users.get(user_id)
            if user is None and username:
                folded = username.casefold()
                known = await self._users.all()
                user = next((u for u in known if folded in (u.username.casefold(),
                                                            u.title.casefold())), None)  # fmt: skip
        if user is None:
            uid = user_id or (f"name:{username.casefold()}" if username else "")
            kind: UserKind = "main" if uid == MAIN_ID else "shared"
            user = PlexUser(uid, username or "", username or uid, kind)
        settings = self._settings()
        return user, effective_policy(user, settings.users, settings.cache)
