"""Plex users: who they are (main, home, shared), their tokens, and their effective settings.

* The main account is the server owner; its id is "1", as in Plex's own database,
  webhooks and sessions. Home (managed) users get a token from plex.tv's home switch;
  shared users from the server's `shared_servers` list (one call covers all of them).
* Tokens are kept in the `users` table for `plex.token_ttl_hours`; a 401 drops the token
  and it is fetched again once. A shared user whose token Plex withheld has none (their
  on-deck may still come from Plex's database). Tokens never reach a log line.
* plex.tv's `/api/users` lists every friend, also those without access to this server;
  only friends with a share of this server (its machineIdentifier) are kept.
* Where each user's on-deck comes from (their token, Plex's database, nowhere) is
  remembered per user with the reason and the fix, for the Users page.
* Settings: the defaults of the user's type, then their override by username.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, Literal, TypeVar

from plexapi.myplex import MyPlexAccount

from cacherr.config.models import CacheConfig, Settings, UsersConfig
from cacherr.db import Database
from cacherr.plex.errors import PlexError, PlexUnauthorized
from cacherr.plex.gateway import PlexGateway

log = logging.getLogger(__name__)

T = TypeVar("T")
UserKind = Literal["main", "home", "shared"]
DeckKind = Literal["token", "database", "none"]
MAIN_ID = "1"
DAY_S = 86_400.0


@dataclass(frozen=True)
class PlexUser:
    """One Plex user as Cacherr knows them (never with a token)."""

    id: str
    username: str
    title: str
    kind: UserKind
    thumb: str | None = None
    last_active_at: float | None = None

    @property
    def name(self) -> str:
        """The name overrides are keyed by: the username, or the title of a managed user."""
        return self.username or self.title

    @property
    def uuid(self) -> str | None:
        """The plex.tv UUID: the hex id in the avatar URL (`/users/<uuid>/avatar`)."""
        found = _AVATAR_UUID.search(self.thumb or "")
        return found.group(1).lower() if found else None


_AVATAR_UUID = re.compile(r"/users/([0-9a-fA-F]{8,})/avatar")
_USER_COLUMNS = "id, username, title, kind, thumb, last_active_at"  # PlexUser's fields


@dataclass(frozen=True)
class DeckSource:
    """Where a user's on-deck comes from, why, and what the user can do about it."""

    source: DeckKind
    reason: str
    fix: str = ""


NO_DATABASE_FIX = (
    "mount Plex's database folder read-only into Cacherr's container and set"
    " plex.database_path to its com.plexapp.plugins.library.db"
)


def expected_deck_source(user: PlexUser, database_path: str | None) -> DeckSource:
    """Where `user`'s on-deck will come from under these settings (before a sweep says)."""
    if user.kind == "main":
        return DeckSource("token", "read from Plex with the owner's token")
    if user.kind == "home":
        return DeckSource("token", "read from Plex with the Home user's token (admin switch)")
    if database_path:
        return DeckSource(
            "database",
            "Plex gives no server token for invited users; read from Plex's database (read-only)",
        )
    return DeckSource(
        "none", "Plex gives no server token for invited users, and plex.database_path is unset",
        NO_DATABASE_FIX,
    )  # fmt: skip


@dataclass(frozen=True)
class EffectivePolicy:
    """A user's settings once type defaults and their override are combined."""

    enabled: bool
    ondeck: bool
    watchlist: bool
    lists: bool
    episodes_ahead: int
    days_to_monitor: int
    watchlist_retention_days: float
    priority_boost: int


def effective_policy(user: PlexUser, users: UsersConfig, cache: CacheConfig) -> EffectivePolicy:
    """Defaults of the user's type, overridden field by field by `users.overrides[name]`."""
    base = {"main": users.main, "home": users.home, "shared": users.shared}[user.kind]
    merged = base.model_dump()
    override = users.overrides.get(user.name) or users.overrides.get(user.title)
    if override is not None:
        merged.update(override.model_dump(exclude_none=True))
    if merged["episodes_ahead"] is None:
        merged["episodes_ahead"] = cache.next_episodes
    return EffectivePolicy(**merged)


def is_active(user: PlexUser, users: UsersConfig, now: float) -> bool:
    """False when the user played nothing for `users.inactive_days` (unknown counts active)."""
    if users.inactive_days == 0 or user.last_active_at is None:
        return True
    return now - user.last_active_at <= users.inactive_days * DAY_S


class UserDirectory:
    """The users table, kept in step with plex.tv, and each user's token."""

    def __init__(
        self,
        gateway: PlexGateway,
        db: Database,
        settings: Callable[[], Settings],
        *,
        clock: Callable[[], float] = time.time,
        on_owner: Callable[[str], None] = lambda _: None,
    ) -> None:
        self._on_owner = on_owner  # told the owner's plex.tv account id (webhooks, Tautulli)
        self._gateway = gateway
        self._db = db
        self._settings = settings
        self._clock = clock
        self._shared_lock = asyncio.Lock()
        self._home_locks: dict[str, asyncio.Lock] = {}
        self._deck_sources: dict[str, DeckSource] = {}
        # Plays noted while a write of earlier ones is under way share the next write.
        self._activity: dict[str, float] = {}
        self._activity_next: asyncio.Future[None] | None = None
        self._activity_lock = asyncio.Lock()
        self._activity_writes: set[asyncio.Task[None]] = set()
        # The table as last read, by id: a play's user is looked up without a trip to the
        # database thread. Only this class writes the table: `refresh` drops it, a write of
        # plays updates it, and `_version` tells a read begun before either to keep nothing.
        self._known: dict[str, PlexUser] | None = None
        self._version = 0

    async def refresh(self) -> list[PlexUser]:
        """Ask plex.tv who uses the server (one hop, two calls) and update the table.

        A friend without a share of this server is left out; when the server's identity is
        unknown (Plex down) every friend is kept rather than dropped on a guess.
        """
        try:
            machine: str | None = await self._gateway.machine_identifier()
        except PlexError:
            machine = None
        elsewhere: list[str] = []

        def discover(account: Any) -> list[PlexUser]:
            found = [PlexUser(MAIN_ID, account.username or "", account.title or "", "main",
                              account.thumb)]  # fmt: skip
            for u in account.users():
                kind: UserKind = "home" if u.home else "shared"
                name = u.username or u.title or str(u.id)
                if kind == "shared" and machine and not _shares(u, machine):
                    elsewhere.append(name)
                    continue
                found.append(PlexUser(str(u.id), u.username or "", u.title or "", kind, u.thumb))
            return found

        found = await self._gateway.run_plextv(discover)
        account_id = await self._gateway.run_plextv(lambda account: account.id)
        if account_id is not None:
            self._on_owner(str(account_id))
        now = self._clock()
        known = {u.id for u in await self.all()}
        async with self._db.transaction() as tx:
            for u in found:
                await tx.execute(
                    "INSERT INTO users (id, username, title, kind, thumb, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
                    " username = excluded.username, title = excluded.title,"
                    " kind = excluded.kind, thumb = excluded.thumb,"
                    " updated_at = excluded.updated_at",
                    (u.id, u.username, u.title, u.kind, u.thumb, now),
                )
            keep = [u.id for u in found]
            marks = ",".join("?" * len(keep))
            await tx.execute(f"DELETE FROM users WHERE id NOT IN ({marks})", keep)
        self._known, self._version = None, self._version + 1
        for u in found:
            if u.id not in known:
                log.info("New Plex user %s (%s): %s defaults apply", u.name, u.id, u.kind)
        if elsewhere:
            log.debug("Friends without access to this server, left out: %d", len(elsewhere))
        return await self.all()

    def deck_source(self, user: PlexUser) -> DeckSource:
        """Where `user`'s on-deck came from at the last read (else where it will come from)."""
        noted = self._deck_sources.get(user.id)
        if noted is not None:
            return noted
        return expected_deck_source(user, self._settings().plex.database_path)

    def note_deck_source(self, user_id: str, source: DeckSource) -> None:
        """Remember where a user's on-deck came from this time (logged when it changes)."""
        if self._deck_sources.get(user_id) != source:
            log.info("On-deck of user %s: %s (%s)", user_id, source.source, source.reason)
        self._deck_sources[user_id] = source

    async def all(self) -> list[PlexUser]:
        """Every known user, main first."""
        version = self._version
        rows = await self._db.fetchall(
            f"SELECT {_USER_COLUMNS} FROM users"
            " ORDER BY kind != 'main', kind != 'home', lower(username || title)"
        )
        found = [PlexUser(*r) for r in rows]
        if version == self._version:
            self._known = {u.id: u for u in found}
        return found

    async def get(self, user_id: str) -> PlexUser | None:
        """A user by id (from the table as last read)."""
        if self._known is None:
            await self.all()
        return None if self._known is None else self._known.get(user_id)

    def policy(self, user: PlexUser) -> EffectivePolicy:
        """The user's effective settings under the current configuration."""
        settings = self._settings()
        return effective_policy(user, settings.users, settings.cache)

    async def active(self) -> list[tuple[PlexUser, EffectivePolicy]]:
        """Enabled users who were active recently enough, with their settings."""
        settings, now = self._settings(), self._clock()
        out = []
        for user in await self.all():
            policy = effective_policy(user, settings.users, settings.cache)
            if policy.enabled and is_active(user, settings.users, now):
                out.append((user, policy))
        return out

    async def note_activity(self, user_id: str, at: float) -> None:
        """Record that the user played something at `at` (keeps the latest); written when it
        returns. A burst of plays is written in one or two statements, not one per play."""
        await asyncio.shield(self.note(user_id, at))

    def note(self, user_id: str, at: float) -> asyncio.Future[None]:
        """`note_activity` without waiting: the write it joins (done when written)."""
        self._activity[user_id] = max(at, self._activity.get(user_id, 0.0))
        if self._activity_next is None:
            written = self._activity_next = asyncio.get_running_loop().create_future()
            written.add_done_callback(lambda f: f.cancelled() or f.exception())  # retrieved
            task = asyncio.create_task(self._write_activity(written), name="users-activity")
            self._activity_writes.add(task)
            task.add_done_callback(self._activity_writes.discard)
        return self._activity_next

    async def _write_activity(self, written: asyncio.Future[None]) -> None:
        async with self._activity_lock:  # one write at a time; what comes meanwhile waits
            pending, self._activity, self._activity_next = self._activity, {}, None
            try:
                await self._db.executemany(
                    "UPDATE users SET last_active_at = max(coalesce(last_active_at, 0), ?) "
                    "WHERE id = ?",
                    [(at, user_id) for user_id, at in pending.items()],
                    durable=False,  # a moment lost to a power cut changes no policy
                )
            except asyncio.CancelledError:
                written.cancel()
                raise
            except Exception as exc:
                written.set_exception(exc)
            else:
                self._noted(pending)
                written.set_result(None)

    def _noted(self, written: dict[str, float]) -> None:
        """The table as last read, with the plays just written."""
        self._version += 1  # a read begun before this write keeps nothing
        known = self._known or {}
        for user_id, at in written.items():
            user = known.get(user_id)
            if user is not None:
                known[user_id] = replace(user, last_active_at=max(at, user.last_active_at or 0))

    async def token(self, user: PlexUser) -> str | None:
        """The user's token (fetched when missing or older than the TTL), None if withheld."""
        if user.kind == "main":
            secret = self._settings().plex.token
            return secret.get_secret_value() if secret else None
        cached = await self._cached_token(user.id)
        if cached is not None:
            return cached[0]
        if user.kind == "home":
            lock = self._home_locks.setdefault(user.id, asyncio.Lock())
            async with lock:
                cached = await self._cached_token(user.id)
                if cached is not None:
                    return cached[0]
                token = await self._switch_home_user(user.id)
                await self._store_tokens({user.id: token})
                return token
        async with self._shared_lock:
            cached = await self._cached_token(user.id)
            if cached is not None:
                return cached[0]
            shared = {u.id for u in await self.all() if u.kind == "shared"} | {user.id}
            tokens = await self._shared_tokens()
            # Home users are listed too, but their token comes from the home switch.
            await self._store_tokens({uid: tokens.get(uid) for uid in shared})
            return tokens.get(user.id)

    async def renew_tokens(self, *, margin: float = 0.1) -> int:
        """Fetch ahead the Home users' tokens that are missing or within `margin` of their
        TTL, so a sweep never waits on plex.tv for them (run in the background)."""
        ttl_s = self._settings().plex.token_ttl_hours * 3600

        async def due(user_id: str | None = None) -> list[str]:
            sql = "SELECT id, token_fetched_at FROM users WHERE kind = 'home'"
            rows = await self._db.fetchall(sql + (" AND id = ?" if user_id else ""),
                                           (user_id,) if user_id else ())  # fmt: skip
            late = self._clock() - ttl_s * (1 - margin)
            return [str(r[0]) for r in rows if r[1] is None or r[1] < late]

        renewed = 0
        for user_id in await due():
            async with self._home_locks.setdefault(user_id, asyncio.Lock()):
                if await due(user_id):  # a sweep may have fetched it meanwhile
                    await self._store_tokens({user_id: await self._switch_home_user(user_id)})
                    renewed += 1
        return renewed

    async def drop_token(self, user_id: str) -> None:
        """Forget a token Plex refused, so the next use fetches it again."""
        await self._db.execute(
            "UPDATE users SET token = NULL, token_fetched_at = NULL WHERE id = ?",
            (user_id,),
            durable=False,
        )

    async def call_as(self, user: PlexUser, fn: Callable[[str], Awaitable[T]]) -> T:
        """`fn(token)`; on 401 the token is dropped, fetched again and `fn` tried once more."""
        token = await self.token(user)
        if token is None:
            raise PlexUnauthorized(f"Plex has no token for {user.name}")
        try:
            return await fn(token)
        except PlexUnauthorized:
            if user.kind == "main":
                raise
            log.info("Plex refused %s's token; fetching a new one", user.name)
            await self.drop_token(user.id)
            token = await self.token(user)
            if token is None:
                raise
            return await fn(token)

    async def _cached_token(self, user_id: str) -> tuple[str | None] | None:
        row = await self._db.fetchone(
            "SELECT token, token_fetched_at FROM users WHERE id = ?", (user_id,)
        )
        if row is None or row[1] is None:
            return None
        ttl_s = self._settings().plex.token_ttl_hours * 3600
        if self._clock() - row[1] > ttl_s:
            return None
        return (row[0],)

    async def _store_tokens(self, tokens: dict[str, str | None]) -> None:
        now = self._clock()  # every user's in one commit (a friend list can be long)
        await self._db.executemany(
            "UPDATE users SET token = ?, token_fetched_at = ? WHERE id = ?",
            [(token, now, user_id) for user_id, token in tokens.items()],
            durable=False,  # fetched again if lost
        )

    async def _switch_home_user(self, user_id: str) -> str | None:
        url = f"{MyPlexAccount.HOMEUSERS}/{user_id}/switch"
        data = await self._gateway.query_plextv(url, method="POST")
        token = data.attrib.get("authenticationToken") or data.attrib.get("authToken")
        return str(token) if token else None

    async def _shared_tokens(self) -> dict[str, str | None]:
        machine = await self._gateway.machine_identifier()
        url = MyPlexAccount.FRIENDINVITE.format(machineId=machine)
        data = await self._gateway.query_plextv(url)
        tokens: dict[str, str | None] = {}
        for elem in data:
            user_id = elem.attrib.get("userID")
            if user_id:
                tokens[str(user_id)] = elem.attrib.get("accessToken") or None
        return tokens


def _shares(user: Any, machine: str) -> bool:
    """Whether plex.tv lists a share of the server `machine` for this friend."""
    return any(s.machineIdentifier == machine for s in user.servers)
