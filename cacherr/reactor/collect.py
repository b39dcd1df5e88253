"""The sweep's collection: users, on-deck and watchlists as whole claim sets per user.

A user whose deck or watchlist could not be read gets no replacement (their claims stay as
they were); a user no longer active, or with the source turned off, gets an empty one.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from cacherr.claims import Claim, Source, claim_priority
from cacherr.config.models import Settings
from cacherr.plex.errors import PlexError
from cacherr.plex.gateway import PlexGateway
from cacherr.plex.library import ItemRef, Library
from cacherr.plex.users import DAY_S, EffectivePolicy, PlexUser, UserDirectory
from cacherr.reactor.engine import CacheEngine
from cacherr.reactor.window import describe
from cacherr.sources.ondeck import OnDeck
from cacherr.sources.watchlist import Watchlists

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Replacement:
    """The whole set of one holder's claims of one source, as the sweep found it."""

    source: Source
    user_id: str
    claims: list[Claim]


# (item, distance, reason, expires_at) per item a user's source wants.
Wanted = list[tuple[ItemRef, int | None, str, float | None]]


class Collector:
    """Reads Plex for the sweep and turns what it finds into `Replacement`s."""

    def __init__(
        self,
        engine: CacheEngine,
        gateway: PlexGateway,
        users: UserDirectory,
        library: Library,
        settings: Callable[[], Settings],
    ) -> None:
        self._engine = engine
        self._gateway = gateway
        self._users = users
        self._library = library
        self._settings = settings
        self._ondeck = OnDeck(gateway, users, library, settings, clock=engine.clock)
        self._watchlists = Watchlists(gateway, users, library, settings)

    def plex_ready(self) -> bool:
        """Whether Plex is configured at all (without it the Plex steps are skipped)."""
        return self._gateway.configured

    async def refresh_users(self, failed: dict[str, str]) -> None:
        """Bring the users table up to date with plex.tv (failures are noted, not fatal)."""
        try:
            await self._users.refresh()
        except PlexError as exc:
            failed["users"] = exc.message
            log.warning("Sweep: Plex users not refreshed: %s", exc.message)

    async def ondeck(self, failed: dict[str, str]) -> list[Replacement]:
        """Every active user's on-deck items and the episodes after them."""
        try:
            result = await self._ondeck.collect()
        except PlexError as exc:
            failed["ondeck"] = exc.message
            return []
        active = await self._users.active()
        broken = set(result.failed) | set(result.skipped)
        wanted: dict[str, Wanted] = defaultdict(list)
        for entry in result.entries:
            user = next((u for u, _ in active if u.id == entry.user_id), None)
            policy = next((p for u, p in active if u.id == entry.user_id), None)
            if user is None or policy is None:
                continue
            item = entry.item
            distance = 1 if item.type == "episode" else None
            reason = f"on deck for {user.name}: {describe(item)}"
            wanted[user.id].append((item, distance, reason, None))
            if item.type == "episode" and policy.episodes_ahead > 0:
                try:
                    after = await self._library.next_episodes(
                        item.rating_key, policy.episodes_ahead, show_key=item.show_key
                    )
                except PlexError as exc:
                    failed[f"ondeck {user.name}"] = exc.message
                    after = []
                for distance, ep in enumerate(after, start=2):
                    reason = f"after on-deck {describe(item)} for {user.name}: {describe(ep)}"
                    wanted[user.id].append((ep, distance, reason, None))
        for name, why in result.failed.items():
            failed[f"ondeck {name}"] = why
        return await self._replacements("ondeck", wanted, active, broken, "ondeck")

    async def watchlists(self, failed: dict[str, str]) -> list[Replacement]:
        """Every active user's watchlisted titles matched to local items."""
        try:
            result = await self._watchlists.collect()
        except PlexError as exc:
            failed["watchlists"] = exc.message
            return []
        active = await self._users.active()
        policies = {u.id: p for u, p in active}
        now = self._engine.clock()
        wanted: dict[str, Wanted] = defaultdict(list)
        for entry in result.entries:
            policy = policies.get(entry.user_id)
            if policy is None:
                continue
            expires = None
            days = policy.watchlist_retention_days
            if days > 0 and entry.title.watchlisted_at is not None:
                expires = entry.title.watchlisted_at + days * DAY_S
                if expires <= now:
                    continue  # kept long enough; claiming it again would restart retention
            for item in entry.items:
                reason = f"on {entry.username}'s watchlist: {describe(item)}"
                wanted[entry.user_id].append((item, None, reason, expires))
        for name, why in result.failed.items():
            failed[f"watchlist {name}"] = why
        broken = set(result.failed)
        return await self._replacements("watchlist", wanted, active, broken, "watchlist")

    async def _replacements(
        self,
        source: Source,
        wanted: dict[str, Wanted],
        active: list[tuple[PlexUser, EffectivePolicy]],
        broken: set[str],
        switch: str,
    ) -> list[Replacement]:
        media = [f for items in wanted.values() for item, *_ in items for f in item.files]
        found = await self._engine.survey(media)
        holders = {c.user_id for c in await self._engine.store.for_source(source)}
        out = []
        for user, policy in active:
            holders.discard(user.id)
            if user.name in broken:
                continue
            on = policy.ondeck if switch == "ondeck" else policy.watchlist
            claims: dict[str, Claim] = {}
            for item, distance, reason, expires in wanted.get(user.id, []) if on else []:
                priority = claim_priority(
                    source, user_kind=user.kind, boost=policy.priority_boost, distance=distance
                )
                show_key = item.show_key or item.rating_key
                for path in found.with_sidecars(item.files):
                    claims.setdefault(
                        path,
                        Claim(path, source, user.id, priority, reason, expires_at=expires,
                              rating_key=item.rating_key, show_key=show_key),
                    )  # fmt: skip
            out.append(Replacement(source, user.id, list(claims.values())))
        # Holders no longer active (or gone from Plex) lose this source's claims.
        out += [Replacement(source, holder, []) for holder in sorted(holders)]
        return out
