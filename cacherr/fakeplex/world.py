"""The simulated Plex world: libraries, media (with real files), users and sessions.

``World`` is both the builder tests use and the state the HTTP routes read. Every
public method takes ``self.lock`` so a server thread can read while a test mutates.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from . import files, notifications
from .builder import MediaLibrary
from .model import (
    CatalogEntry,
    Item,
    Movie,
    Playable,
    Session,
    SessionState,
    Show,
    User,
    UserKind,
    leaves,
)

SCROBBLE_FRACTION = 0.9  # Plex marks an item watched once 90 % has been played


class World(MediaLibrary):
    """Everything the simulated Plex knows.

    Example::

        w = World(array_root=tmp_path / "array", plex_root="/data")
        show = w.add_show("The Expanse", seasons={1: 10, 2: 13})
        heat = w.add_movie("Heat", year=1995)
        alice = w.add_user("alice", kind="home")
        w.watch(alice, show.seasons[0].episodes[0])
    """

    def __init__(
        self,
        array_root: Path | str,
        plex_root: str = "/data",
        *,
        file_bytes: int = 1024,
        create_files: bool = True,
        server_name: str = "Cacherr Simulated PMS",
        owner_name: str = "owner",
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            array_root, plex_root, file_bytes=file_bytes, create_files=create_files, clock=clock
        )
        self.server_name = server_name
        self.machine_identifier = files.short_hash("machine", server_name, length=40)
        self.version = "1.41.3.9314-a0bfb8370"
        self.users: list[User] = []
        self.sessions: dict[int, Session] = {}
        self.rss_self_id = files.short_hash("rss-self", server_name, length=32)
        self.rss_friends_id = files.short_hash("rss-friends", server_name, length=32)
        # Since 2026-03 plex.tv hands out no server token for invited (shared) users; a test
        # that models the earlier plex.tv sets this (the legacy shape).
        self.shared_tokens = False
        # Discover's feed URL may redirect; tests of the plain answer turn this off.
        self.rss_redirects = True
        # Who hears `/:/websockets/notifications` pushes: each gets a notice, or None to hang up.
        self._listeners: list[Callable[[dict[str, Any] | None], None]] = []
        self._user_ids = itertools.count(1001)
        self._session_keys = itertools.count(1)
        self._owner = self._new_user(1, owner_name, "owner")
        # plex.tv knows the owner by their account id; only the server itself says 1.
        self._owner.plextv_id = 8_000_000 + int(
            files.short_hash("account", owner_name, length=6), 16
        )

    # ----------------------------------------------------------------- lookups
    @property
    def owner(self) -> User:
        """The server owner (1 on the server, `account_id` on plex.tv and in webhooks)."""
        return self._owner

    def user(self, name: str) -> User:
        """A user by username or title."""
        with self.lock:
            for u in self.users:
                if name in (u.username, u.title):
                    return u
        raise KeyError(name)

    def user_by_token(self, token: str | None) -> User | None:
        """Whose token is this? ``None`` for an unknown or withdrawn token."""
        if not token:
            return None
        with self.lock:
            return next((u for u in self.users if u.token == token), None)

    def _new_user(self, uid: int, name: str, kind: UserKind) -> User:
        user = User(
            id=uid,
            username=name if kind != "home" else "",
            title=name,
            kind=kind,
            token=f"tok-{files.short_hash('token', uid, name, length=20)}",
            uuid=files.short_hash("uuid", uid, name, length=16),
            email=f"{name}@example.invalid" if kind != "home" else "",
            restricted=kind == "home",
        )
        self.users.append(user)
        return user

    def add_user(
        self,
        name: str,
        kind: UserKind = "shared",
        *,
        libraries: Iterable[str] | None = None,
        shares_server: bool = True,
    ) -> User:
        """Add a Plex Home (managed) member or a shared friend; ``libraries`` limits access.

        ``shares_server=False`` is a plex.tv friend who has no access to this server (plex.tv
        still lists them in ``/api/users``).
        """
        if kind == "owner":
            raise ValueError("the world already has its owner")
        with self.lock:
            user = self._new_user(next(self._user_ids), name, kind)
            user.shares_server = shares_server
            if libraries is not None:
                user.library_ids = {self.library(t).id for t in libraries}
            elif not shares_server:
                user.library_ids = set()
            return user

    def server_token_of(self, user: User) -> str | None:
        """The ``accessToken`` plex.tv's ``shared_servers`` gives for ``user`` (None: withheld)."""
        if user.kind == "shared" and (not self.shared_tokens or user.shared_token_withdrawn):
            return None
        return user.token

    # ------------------------------------------------------------ notifications
    def listen(self, listener: Callable[[dict[str, Any] | None], None]) -> Callable[[], None]:
        """Hear every session notice (see `notifications`); returns the call that stops it."""
        with self.lock:
            self._listeners.append(listener)

        def stop() -> None:
            with self.lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return stop

    def drop_notification_sockets(self) -> None:
        """Hang up every notification socket, as a restarting Plex does."""
        with self.lock:
            for listener in list(self._listeners):
                listener(None)

    def _announce(self, session: Session, state: str) -> None:
        notice = notifications.play_session_state(session, state)
        for listener in list(self._listeners):
            listener(notice)

    # --------------------------------------------------------------- mutations
    def watch(self, user: User, item: Item) -> None:
        """Mark watched (scrobble): every playable leaf of ``item``."""
        with self.lock:
            for leaf in leaves(item):
                st = user.state(leaf.rating_key)
                st.view_count += 1
                st.view_offset_ms = 0
                st.last_viewed_at = self.now()

    scrobble = watch

    def unwatch(self, user: User, item: Item) -> None:
        """Mark unwatched."""
        with self.lock:
            for leaf in leaves(item):
                user.states.pop(leaf.rating_key, None)

    def set_progress(self, user: User, item: Playable, offset_ms: int) -> None:
        """Record a resume point (the item becomes in progress)."""
        with self.lock:
            st = user.state(item.rating_key)
            st.view_offset_ms = offset_ms
            st.last_viewed_at = self.now()

    def start_session(
        self,
        user: User,
        item: Playable,
        *,
        offset_ms: int = 0,
        state: SessionState = "playing",
        player: str = "Living Room TV",
        local: bool = True,
        transcoding: bool = False,
    ) -> Session:
        """Start playback; the session shows in ``/status/sessions`` (a transcoding one
        without ``Part@file``, as Plex lists it)."""
        with self.lock:
            key = next(self._session_keys)
            sess = Session(
                session_key=key,
                user=user,
                item=item,
                view_offset_ms=offset_ms,
                state=state,
                player_title=player,
                local=local,
                player_id=files.short_hash("player", player, length=20),
                transcoding=transcoding,
            )
            self.sessions[key] = sess
            self._announce(sess, state)
            return sess

    def pause_session(self, session: Session) -> None:
        """Pause a session."""
        with self.lock:
            session.state = "paused"
            self._announce(session, "paused")

    def resume_session(self, session: Session) -> None:
        """Resume a paused session."""
        with self.lock:
            session.state = "playing"
            self._announce(session, "playing")

    def progress_session(self, session: Session, offset_ms: int) -> None:
        """Move the playhead; also updates the user's resume point like Plex's timeline."""
        with self.lock:
            session.view_offset_ms = offset_ms
            self.set_progress(session.user, session.item, offset_ms)
            self._announce(session, session.state)

    def stop_session(self, session: Session) -> None:
        """End playback: scrobble past 90 %, else keep the resume point."""
        with self.lock:
            self.sessions.pop(session.session_key, None)
            self._announce(session, "stopped")
            if session.view_offset_ms >= SCROBBLE_FRACTION * session.item.duration_ms:
                self.watch(session.user, session.item)
            elif session.view_offset_ms > 0:
                self.set_progress(session.user, session.item, session.view_offset_ms)

    def add_to_watchlist(self, user: User, item: Movie | Show | CatalogEntry | str) -> str:
        """Put a title (or a raw guid) on the user's plex.tv watchlist; returns its plex guid."""
        with self.lock:
            guid = item if isinstance(item, str) else item.plex_guid
            if guid not in user.watchlist:
                user.watchlist.insert(0, guid)  # plex.tv lists newest first
                user.watchlisted_at[guid] = self.now()
            return guid

    def remove_from_watchlist(self, user: User, item: Movie | Show | CatalogEntry | str) -> None:
        """Take a title off the watchlist."""
        with self.lock:
            guid = item if isinstance(item, str) else item.plex_guid
            if guid in user.watchlist:
                user.watchlist.remove(guid)
