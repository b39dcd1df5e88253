"""The sweep's collection: users, on-deck and watchlists as whole claim sets per user.

A user whose deck or watchlist could not be read gets no replacement (their claims stay as
they were); a user no longer active, or with the source turned off, gets an empty one.

plex.tv is slow and rate limited, so the sweep never waits on it: users, Home users'
tokens and watchlists are refreshed in the background (one refresh at a time, within the
plex.tv budget), and the sweep plans from the latest known watchlists. When a refresh
finds the watchlists changed, `on_fresh` asks for a sweep. On-deck is read from the Plex
server itself on every sweep. A dry run (the plan route) uses the latest known state of
both, unless asked to gather afresh.
"""

from __future__ import annotations

import asyncio
import logging
import time
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
from cacherr.reactor.window import ahead, describe
from cacherr.sources.ondeck import OnDeck, OnDeckResult
from cacherr.sources.watchlist import WatchlistResult, Watchlists
from cacherr.tasks import cancel_and_wait

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Replacement:
    """The whole set of one holder's claims of one source, as the sweep found it."""

    source: Source
    user_id: str
    claims: list[Claim]


# (item, distance, reason, expires_at) per item a user's source wants.
Wanted = list[tuple[ItemRef, int | None, str, float | None]]

# A background refresh of plex.tv starts at most this often (a sweep it triggers reuses it).
REFRESH_MIN_AGE_S = 60.0


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
        self._known_ondeck: OnDeckResult | None = None
        self._known_watchlists: WatchlistResult | None = None
        self._refresh: asyncio.Task[None] | None = None
        self._refreshed_at = float("-inf")
        self.on_fresh: Callable[[], object] | None = None
        # The replacements last built from each known result, reused until it changes.
        self._built: dict[str, tuple[object, list[Replacement]]] = {}

    def plex_ready(self) -> bool:
        """Whether Plex is configured at all (without it the Plex steps are skipped)."""
        return self._gateway.configured

    async def close(self) -> None:
        """Stop a background refresh of plex.tv."""
        await cancel_and_wait(self._refresh)
        self._refresh = None

    async def refresh_users(self, failed: dict[str, str], *, background: bool = True) -> None:
        """Know the users: from plex.tv now when none is known yet; with `background`, a
        refresh of users, tokens and watchlists is started too."""
        if not await self._users.all():
            try:
                await self._users.refresh()
            except PlexError as exc:
                failed["users"] = exc.message
                log.warning("Sweep: Plex users not refreshed: %s", exc.message)
        if background:
            self.start_refresh()

    def start_refresh(self) -> bool:
        """Refresh users, tokens and watchlists from plex.tv in the background (unless one
        runs or one finished less than a minute ago); False when none was started."""
        running = self._refresh is not None and not self._refresh.done()
        if running or time.monotonic() - self._refreshed_at < REFRESH_MIN_AGE_S:
            return False
        self._refresh = asyncio.create_task(self._refresh_plextv(), name="plextv-refresh")
        return True

    async def wait_refreshed(self) -> None:
        """Return once no background refresh runs (tests and the bench wait on this)."""
        while self._refresh is not None and not self._refresh.done():
            await asyncio.wait([self._refresh])

    async def _refresh_plextv(self) -> None:
        try:
            await self._users.refresh()
            await self._users.renew_tokens()
        except PlexError as exc:
            log.warning("Plex users or tokens not refreshed: %s", exc.message)
        try:
            result = await self._watchlists.collect()
        except PlexError as exc:
            log.warning("Watchlists not refreshed: %s", exc.message)
            return
        finally:
            self._refreshed_at = time.monotonic()
        before, self._known_watchlists = self._known_watchlists, result
        if _titles(before) != _titles(result) and self.on_fresh is not None:
            self.on_fresh()

    async def ondeck(
        self, failed: dict[str, str], *, fresh: bool = True, reuse: bool = False
    ) -> list[Replacement]:
        """Every active user's on-deck items and the episodes after them (read from Plex, or
        the latest known decks when not `fresh` and some are known). `reuse` (a dry run)
        takes the replacements last built from those decks as they are."""
        known = self._built.get("ondeck")
        if reuse and known is not None and known[0] is self._known_ondeck:
            return known[1]
        try:
            result = self._known_ondeck
            if fresh or result is None:
                result = await self._ondeck.collect()
                self._known_ondeck = result
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
            if item.type == "episode":
                # As far ahead as a play looks (episodes_ahead, prefetch_minutes, next_episodes).
                try:
                    following = await self._library.following(
                        item.rating_key, show_key=item.show_key
                    )
                except PlexError as exc:
                    failed[f"ondeck {user.name}"] = exc.message
                    following = []
                after = ahead(following, user, self._settings())
                for distance, ep in enumerate(after, start=2):
                    reason = f"after on-deck {describe(item)} for {user.name}: {describe(ep)}"
                    wanted[user.id].append((ep, distance, reason, None))
        for name, why in result.failed.items():
            failed[f"ondeck {name}"] = why
        built = await self._replacements("ondeck", wanted, active, broken, "ondeck")
        self._built["ondeck"] = (result, built)
        return built

    async def watchlists(
        self, failed: dict[str, str], *, fresh: bool = False, reuse: bool = False
    ) -> list[Replacement]:
        """Every active user's watchlisted titles matched to local items: the latest known
        (refreshed in the background), or gathered now when `fresh`; `reuse` as `ondeck`."""
        known = self._built.get("watchlist")
        if reuse and known is not None and known[0] is self._known_watchlists:
            return known[1]
        result = self._known_watchlists
        if fresh:
            try:
                result = await self._watchlists.collect()
            except PlexError as exc:
                failed["watchlists"] = exc.message
                return []
            self._known_watchlists = result
        if result is None:
            log.info("Sweep: watchlists not known yet (read from plex.tv in the background)")
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
        built = await self._replacements("watchlist", wanted, active, broken, "watchlist")
        self._built["watchlist"] = (result, built)
        return built

    async def _replacements(
        self,
        source: Source,
        wanted: dict[str, Wanted],
        active: list[tuple[PlexUser, EffectivePolicy]],
        broken: set[str],
        switch: str,
    ) -> list[Replacement]:
        # Many users share the same next episodes: each file is looked at once.
        media = dict.fromkeys(
            f for items in wanted.values() for item, *_ in items for f in item.files
        )
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


def _titles(result: WatchlistResult | None) -> set[tuple[str, str, float | None]]:
    if result is None:
        return set()
    return {(e.user_id, e.title.title, e.title.watchlisted_at) for e in result.entries}
