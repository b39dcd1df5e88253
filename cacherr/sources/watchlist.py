"""Watchlists: main and home users' from plex.tv, friends' from the owner's RSS feed.

The friends' feed names each friend by plex.tv UUID in `<author>` (the hex id of their
avatar URL); older feeds gave the numeric id, so both are matched. A feed URL plex.tv no
longer serves (the retired rss.plex.tv ones answer 401/404) is reported in plain words.

Titles are matched to local items by guid only (`plex://`, `imdb://`, `tmdb://`,
`tvdb://`), never by title; what does not match is reported. A watchlisted movie
contributes its files, a watchlisted show its first `watchlist.episodes` episodes the user
has not watched. The local guid index costs one call per library section.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from email.utils import parsedate_to_datetime
from xml.etree import ElementTree as ET

from cacherr.config.models import Settings
from cacherr.plex.errors import PlexBadAnswer, PlexError, PlexNotFound
from cacherr.plex.gateway import PlexGateway
from cacherr.plex.library import ItemRef, Library, Section
from cacherr.plex.users import EffectivePolicy, PlexUser, UserDirectory
from cacherr.sources.discover import Discover, WatchlistTitle

__all__ = ["GuidIndex", "WatchlistEntry", "WatchlistResult", "WatchlistTitle", "Watchlists"]

log = logging.getLogger(__name__)

GUID_SCHEMES = ("plex://", "imdb://", "tmdb://", "tvdb://")
RETIRED_RSS_HOST = "rss.plex.tv"


@dataclass(frozen=True)
class WatchlistEntry:
    """A matched title on one user's watchlist and the local items it stands for."""

    user_id: str
    username: str
    title: WatchlistTitle
    items: list[ItemRef]
    source: str = "plextv"


@dataclass
class WatchlistResult:
    """Everyone's matched titles, the unmatched ones, and who could not be read."""

    entries: list[WatchlistEntry] = field(default_factory=list)
    unmatched: list[tuple[str, WatchlistTitle]] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def _usable(guid: str) -> bool:
    return guid.startswith(GUID_SCHEMES)


class GuidIndex:
    """Local movies and shows by every guid they carry."""

    def __init__(self, items: list[ItemRef]) -> None:
        self._by_guid: dict[str, ItemRef] = {}
        for item in items:
            for guid in item.guids:
                if _usable(guid):
                    self._by_guid.setdefault(guid, item)

    def match(self, guids: list[str]) -> ItemRef | None:
        """The local item sharing a guid with `guids` (plex:// first), or None."""
        for guid in sorted(guids, key=lambda g: not g.startswith("plex://")):
            if _usable(guid) and guid in self._by_guid:
                return self._by_guid[guid]
        return None


def retired_feed_message(url: str, why: str) -> str:
    """What to tell the user when plex.tv no longer serves the saved friends' feed URL."""
    old = urllib.parse.urlsplit(url).hostname == RETIRED_RSS_HOST
    where = "is the retired rss.plex.tv address" if old else "is no longer served"
    return (
        f"the saved friends' watchlist RSS URL {where} ({why}): since 2026-07 Plex serves"
        " these feeds from discover.provider.plex.tv; copy the friends' watchlist RSS URL"
        " again from Plex Web (Watchlist → RSS) into plex.friends_watchlist_rss"
    )


def parse_rss(text: str) -> list[tuple[str, WatchlistTitle]]:
    """The friends' watchlist feed: (author id, title) per item."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise PlexBadAnswer("the watchlist RSS feed is not valid XML", lane="plextv") from exc
    out = []
    for item in root.iter("item"):
        when = item.findtext("pubDate")
        try:
            at = parsedate_to_datetime(when).timestamp() if when else None
        except (TypeError, ValueError):
            at = None
        title = WatchlistTitle(
            item.findtext("title") or "",
            item.findtext("category") or "",
            [g.text.strip() for g in item.findall("guid") if g.text],
            at,
        )
        out.append(((item.findtext("author") or "").strip(), title))
    return out


class Watchlists:
    """Collects and matches every enabled user's watchlist."""

    def __init__(
        self,
        gateway: PlexGateway,
        users: UserDirectory,
        library: Library,
        settings: Callable[[], Settings],
        *,
        concurrency: int = 8,
    ) -> None:
        self._gateway = gateway
        self._users = users
        self._library = library
        self._settings = settings
        self._concurrency = concurrency
        self.discover = Discover(gateway)

    async def index(self) -> GuidIndex:
        """Local movies and shows of the watched sections (paged listings, one per section).

        A section that does not answer is left out of this index (its titles stay unmatched
        this time) rather than failing everyone's watchlist.
        """

        async def section(s: Section) -> list[ItemRef]:
            key = f"/library/sections/{s.id}/all"
            try:
                return await self._library.listing(key, params={"includeGuids": 1})
            except PlexError as exc:
                log.warning("Watchlists: section %s not read: %s", s.title, exc.message)
                return []

        found = await asyncio.gather(*(section(s) for s in await self._library.sections()))
        return GuidIndex([item for items in found for item in items])

    async def collect(self) -> WatchlistResult:
        """Watchlists of every enabled, active user whose watchlist is on."""
        result = WatchlistResult()
        wanted = [(u, p) for u, p in await self._users.active() if p.watchlist]
        if not wanted:
            return result
        index = await self.index()
        limit = asyncio.Semaphore(self._concurrency)
        titles: list[tuple[PlexUser, EffectivePolicy, WatchlistTitle, str]] = []

        async def plextv(user: PlexUser, policy: EffectivePolicy) -> None:
            async with limit:
                try:
                    listed = await self._users.call_as(
                        user, lambda tok: self._listed(user, policy, tok)
                    )
                except PlexError as exc:
                    result.failed[user.name] = exc.message
                    return
                titles.extend((user, policy, t, "plextv") for t in listed)

        await asyncio.gather(*(plextv(u, p) for u, p in wanted if u.kind != "shared"))
        friends = {u.id: (u, p) for u, p in wanted if u.kind == "shared"}
        by_author = {**friends, **{u.uuid: (u, p) for u, p in friends.values() if u.uuid}}
        rss = self._settings().plex.friends_watchlist_rss
        if friends and rss is not None:
            url = rss.get_secret_value()
            try:
                for author, t in parse_rss(await self._gateway.fetch_text(url)):
                    if author.lower() in by_author:
                        titles.append((*by_author[author.lower()], t, "rss"))
            except PlexNotFound as exc:
                result.failed["friends' watchlist RSS"] = retired_feed_message(url, exc.message)
            except PlexError as exc:
                result.failed["friends' watchlist RSS"] = exc.message
        elif friends:
            for user in friends.values():
                result.failed[user[0].name] = "plex.friends_watchlist_rss is not set"

        async def resolve(user: PlexUser, t: WatchlistTitle, source: str) -> None:
            local = index.match(t.guids)
            if local is None and t.plex_guid and len(t.guids) == 1:
                # Discover gave the plex guid alone and no local item carries it: match by
                # the title's external ids (asked once per title, ever).
                try:
                    local = index.match([*t.guids, *await self.discover.external_ids(t.plex_guid)])
                except PlexError as exc:
                    result.failed[user.name] = exc.message
                    return
            if local is None:
                result.unmatched.append((user.name, t))
                return
            async with limit:
                try:
                    items = await self._items_for(user, local)
                except PlexError as exc:
                    result.failed[user.name] = exc.message
                    return
            result.entries.append(WatchlistEntry(user.id, user.name, t, items, source))

        await asyncio.gather(*(resolve(u, t, src) for u, _p, t, src in titles))
        return result

    async def _listed(
        self, user: PlexUser, policy: EffectivePolicy, token: str
    ) -> list[WatchlistTitle]:
        """The user's discover watchlist; with a retention, each title's added-at date."""
        titles = await self.discover.watchlist(token)
        self.discover.keep_only(user.id, {t.plex_guid for t in titles if t.plex_guid})
        if policy.watchlist_retention_days <= 0:
            return titles
        out = []
        for t in titles:
            if t.watchlisted_at is None and t.plex_guid:
                at = await self.discover.added_at(user.id, token, t.plex_guid)
                t = replace(t, watchlisted_at=at)
            out.append(t)
        return out

    async def _items_for(self, user: PlexUser, local: ItemRef) -> list[ItemRef]:
        if local.type != "show":
            return [local]
        count = self._settings().watchlist.episodes
        if count == 0:
            return []
        token = await self._users.token(user)

        async def unwatched(tok: str | None) -> list[ItemRef]:
            episodes = await self._library.episodes(local.rating_key, token=tok)
            return [e for e in episodes if not e.watched][:count]

        if token is None:
            return await unwatched(None)  # without a token only the owner's view is known
        return await self._users.call_as(user, unwatched)
