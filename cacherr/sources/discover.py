"""plex.tv's discover side of watchlists: a user's watchlist, and what its pages leave out.

Discover's watchlist pages (20 items unless a size is asked) carry each title's
`guid="plex://…"` only: no external ids and no `watchlistedAt`. The external ids come from
the metadata provider's item (`/library/metadata/{id}`) and never change, so each is asked
once and kept; the date a user added a title comes from that user's `userState` of it and
is kept while the title stays on their list. Both are asked only when the plex guid alone
is not enough (no local item carries it) or a retention needs the date.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from plexapi.myplex import MyPlexAccount

from cacherr.plex.gateway import PlexGateway

PAGE_SIZE = 100


@dataclass(frozen=True)
class WatchlistTitle:
    """A title as a watchlist lists it."""

    title: str
    type: str
    guids: list[str]
    watchlisted_at: float | None = None

    @property
    def plex_guid(self) -> str | None:
        """The title's `plex://` guid, when it carries one."""
        return next((g for g in self.guids if g.startswith("plex://")), None)


def _plex_id(plex_guid: str) -> str:
    return plex_guid.rsplit("/", 1)[-1]


def _float(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


class Discover:
    """Watchlist pages per user token; external ids and added-at dates, each asked once."""

    def __init__(self, gateway: PlexGateway) -> None:
        self._gateway = gateway
        self._ids: dict[str, list[str]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._added: dict[tuple[str, str], float | None] = {}

    async def watchlist(self, token: str) -> list[WatchlistTitle]:
        """Every title on the token's user's watchlist (all pages)."""
        url = f"{MyPlexAccount.DISCOVER}/library/sections/watchlist/all"
        out: list[WatchlistTitle] = []
        start = 0
        while True:
            data = await self._gateway.query_plextv(
                url,
                token=token,
                headers={"X-Plex-Container-Start": str(start),
                         "X-Plex-Container-Size": str(PAGE_SIZE)},
            )  # fmt: skip
            page = [e for e in data if e.get("guid")]
            for e in page:
                guids = [e.get("guid", "")] + [g.get("id", "") for g in e.findall("Guid")]
                out.append(WatchlistTitle(e.get("title", ""), e.get("type", ""), guids,
                                          _float(e.get("watchlistedAt"))))  # fmt: skip
            start += len(page)
            total = int(data.get("totalSize") or start)
            if not page or start >= total:
                return out

    async def external_ids(self, plex_guid: str) -> list[str]:
        """The title's imdb/tmdb/tvdb guids from the metadata provider (asked once, kept)."""
        async with self._locks.setdefault(plex_guid, asyncio.Lock()):  # one ask per title
            if plex_guid not in self._ids:
                url = f"{MyPlexAccount.METADATA}/library/metadata/{_plex_id(plex_guid)}"
                data = await self._gateway.query_plextv(url)
                found = [g.get("id", "") for e in data for g in e.findall("Guid")]
                self._ids[plex_guid] = [g for g in found if g]
        self._locks.pop(plex_guid, None)
        return self._ids[plex_guid]

    async def added_at(self, user_id: str, token: str, plex_guid: str) -> float | None:
        """When the user put the title on their watchlist (their `userState`), kept."""
        key = (user_id, plex_guid)
        if key in self._added:
            return self._added[key]
        url = f"{MyPlexAccount.METADATA}/library/metadata/{_plex_id(plex_guid)}/userState"
        data = await self._gateway.query_plextv(url, token=token)
        state = data.find("UserState")
        at = _float(state.get("watchlistedAt")) if state is not None else None
        self._added[key] = at
        return at

    def keep_only(self, user_id: str, plex_guids: set[str]) -> None:
        """Forget the added-at dates of titles no longer on the user's list (a re-add is new)."""
        for key in [k for k in self._added if k[0] == user_id and k[1] not in plex_guids]:
            del self._added[key]
