"""On-deck per user: what each user is in the middle of, or watches next.

Plex's on-deck is per token, and `/library/onDeck` silently drops libraries hidden from
Home, so each user's deck is asked section by section (`/library/sections/{id}/onDeck`),
limited to `plex.sections` when set. Items untouched for longer than the user's
`days_to_monitor` are left out. Users without a token are read from Plex's own database
(read-only) when `plex.database_path` is set; for shared users that is the normal path.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from cacherr.config.models import Settings
from cacherr.plex.errors import PlexBadAnswer, PlexError, PlexNotFound, PlexUnauthorized
from cacherr.plex.gateway import PlexGateway
from cacherr.plex.library import ItemRef, Library, Section, items_from_xml
from cacherr.plex.plexdb import PlexDatabase
from cacherr.plex.users import (
    DAY_S,
    DeckSource,
    EffectivePolicy,
    PlexUser,
    UserDirectory,
    expected_deck_source,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OnDeckEntry:
    """One item on one user's deck."""

    user_id: str
    username: str
    item: ItemRef
    last_viewed_at: float | None
    source: Literal["plex", "plex_database"] = "plex"


@dataclass
class OnDeckResult:
    """Everyone's decks, and who could not be read and why."""

    entries: list[OnDeckEntry] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def within_days(last_viewed_at: float | None, days: int, now: float) -> bool:
    """Whether an item touched at `last_viewed_at` is still monitored (0 days: always).

    A next-up episode that was never played carries no lastViewedAt and is kept: Plex's
    own on-deck window already bounds it.
    """
    return days == 0 or last_viewed_at is None or now - last_viewed_at <= days * DAY_S


class OnDeck:
    """Collects on-deck for every active user, a few users at a time."""

    def __init__(
        self,
        gateway: PlexGateway,
        users: UserDirectory,
        library: Library,
        settings: Callable[[], Settings],
        *,
        concurrency: int = 8,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._gateway = gateway
        self._users = users
        self._library = library
        self._settings = settings
        self._concurrency = concurrency
        self._clock = clock

    async def collect(self) -> OnDeckResult:
        """On-deck of every enabled, active user whose on-deck is on."""
        result = OnDeckResult()
        sections = await self._library.sections()
        limit = asyncio.Semaphore(self._concurrency)

        async def one(user: PlexUser, policy: EffectivePolicy) -> None:
            async with limit:
                try:
                    result.entries.extend(await self.for_user(user, policy, sections))
                except _NoToken as exc:
                    result.skipped[user.name] = str(exc)
                except PlexError as exc:
                    result.failed[user.name] = exc.message
                    log.warning("On-deck of %s not read: %s", user.name, exc.message)

        tasks = []
        for user, policy in await self._users.active():
            if policy.ondeck:
                tasks.append(one(user, policy))
            else:
                result.skipped[user.name] = "on-deck is off for this user"
        await asyncio.gather(*tasks)
        return result

    async def for_user(
        self, user: PlexUser, policy: EffectivePolicy, sections: list[Section] | None = None
    ) -> list[OnDeckEntry]:
        """One user's deck across the sections (hidden-from-Home ones included).

        Shared users are read from Plex's database when it is set (plex.tv gives no server
        token for invited users since 2026-03), the others with their own token; a user
        whose token Plex withholds falls back to the database too. The path taken is noted
        on the user directory for the Users page.
        """
        sections = await self._library.sections() if sections is None else sections
        database = self._settings().plex.database_path
        token: str | None = None
        if not (user.kind == "shared" and database):
            token = await self._users.token(user)
        source: Literal["plex", "plex_database"]
        if token is not None:
            items = await self._users.call_as(user, lambda tok: self._ask(tok, sections))
            source = "plex"
            self._users.note_deck_source(user.id, expected_deck_source(user, database))
        else:
            items = await self._from_database(user, sections)
            source = "plex_database"
        now = self._clock()
        entries = [
            OnDeckEntry(user.id, user.name, item, item.last_viewed_at, source)
            for item in items
            if within_days(item.last_viewed_at, policy.days_to_monitor, now)
        ]
        latest = max((e.last_viewed_at or 0 for e in entries), default=0)
        if latest > (user.last_active_at or 0):  # a write only when there is news
            await self._users.note_activity(user.id, latest)
        return entries

    async def _ask(self, token: str, sections: list[Section]) -> list[ItemRef]:
        cfg = self._settings().plex
        refused = 0

        async def section(s: Section) -> list[ItemRef]:
            nonlocal refused
            try:
                data = await self._gateway.query(f"/library/sections/{s.id}/onDeck", token=token)
            except PlexNotFound:
                return []  # a section this user is not given
            except PlexUnauthorized:
                refused += 1  # a restricted Home user may be refused one section (401)
                return []
            return items_from_xml(data, cfg)

        found = await asyncio.gather(*(section(s) for s in sections))
        if sections and refused == len(sections):
            raise PlexUnauthorized("Plex refused the token for every section")
        return [item for items in found for item in items]

    async def _from_database(self, user: PlexUser, sections: list[Section]) -> list[ItemRef]:
        cfg = self._settings().plex
        if not cfg.database_path:
            why = expected_deck_source(user, None)
            self._users.note_deck_source(user.id, why)
            raise _NoToken(why.reason)
        db = PlexDatabase(cfg.database_path)
        ids = {s.id for s in sections}
        try:
            items = await asyncio.to_thread(db.on_deck, int(user.id), cfg, ids)
        except sqlite3.Error as exc:
            reason = f"cannot read Plex's database: {exc}"
            fix = "check plex.database_path and that the file is mounted readable"
            self._users.note_deck_source(user.id, DeckSource("none", reason, fix))
            raise PlexBadAnswer(reason) from exc
        self._users.note_deck_source(user.id, DeckSource("database", _DATABASE_REASON))
        return items


_DATABASE_REASON = "no server token from Plex; read from Plex's database (read-only)"


class _NoToken(PlexError):
    """No token and no database to fall back on: the user is skipped, not failed."""
