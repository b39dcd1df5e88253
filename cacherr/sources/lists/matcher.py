"""List entries → local Plex movies and shows, by id: IMDb, then TMDb, then TVDB.

Ids are looked up with the watchlists' `GuidIndex`, one index per kind (TMDb numbers
movies and shows separately, so tmdb://1399 the show is not tmdb://1399 a movie). Title and
year are used only when a list enables `title_fallback`, and such a match is flagged. An
entry that fits several local items is `ambiguous` and is not cached.
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Final

from cacherr.config.models import PlexConfig
from cacherr.plex.gateway import PlexGateway
from cacherr.plex.library import ItemRef, Library, item_from_xml
from cacherr.sources.lists.model import Kind, ListEntry, Match
from cacherr.sources.watchlist import GuidIndex

_KINDS: Final[tuple[Kind, Kind]] = ("movie", "show")
# Plex's legacy agents spell ids as com.plexapp.agents.imdb://tt0111161?lang=en.
_LEGACY = re.compile(r"^com\.plexapp\.agents\.(imdb|themoviedb|thetvdb)://([^?/]+)")
_LEGACY_SCHEME: Final = {"imdb": "imdb", "themoviedb": "tmdb", "thetvdb": "tvdb"}


@dataclass(frozen=True)
class LocalTitle:
    """A local movie or show with the year Plex gives it (for the title fallback)."""

    item: ItemRef
    year: int | None = None


def normal_title(title: str) -> str:
    """A title folded for comparison: accents, case, punctuation and a leading article."""
    text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    text = text.replace("&", " and ")
    text = re.sub(r"[^a-z0-9]+", " ", text).strip()
    return re.sub(r"^(the|a|an) ", "", text)


def _with_modern_guids(item: ItemRef) -> ItemRef:
    extra = []
    for guid in item.guids:
        m = _LEGACY.match(guid)
        if m:
            extra.append(f"{_LEGACY_SCHEME[m.group(1)]}://{m.group(2)}")
    return replace(item, guids=[*item.guids, *extra]) if extra else item


class LocalIndex:
    """The library's movies and shows by id (per kind) and by title and year."""

    def __init__(self, titles: Iterable[LocalTitle]) -> None:
        by_kind: dict[Kind, list[ItemRef]] = {"movie": [], "show": []}
        self._by_title: dict[tuple[Kind, str], list[LocalTitle]] = defaultdict(list)
        self.size = 0
        for local in titles:
            if local.item.type not in _KINDS:
                continue
            kind: Kind = "movie" if local.item.type == "movie" else "show"
            item = _with_modern_guids(local.item)
            by_kind[kind].append(item)
            self._by_title[(kind, normal_title(item.title))].append(LocalTitle(item, local.year))
            self.size += 1
        self._ids = {kind: GuidIndex(items) for kind, items in by_kind.items()}

    def match(self, entry: ListEntry, *, title_fallback: bool = False) -> Match:
        """Where `entry` is in the library: by id in the order IMDb → TMDb → TVDB."""
        kinds: Sequence[Kind] = (entry.kind,) if entry.kind else _KINDS
        schemes = (("imdb", entry.ids.imdb), ("tmdb", entry.ids.tmdb), ("tvdb", entry.ids.tvdb))
        for scheme, value in schemes:
            if not value:
                continue
            hits = {k: item for k in kinds if (item := self._ids[k].match([f"{scheme}://{value}"]))}
            if len(hits) == 1:
                kind, item = next(iter(hits.items()))
                return Match("matched", item.rating_key, kind, scheme)  # type: ignore[arg-type]
            if hits:
                return Match("ambiguous", candidates=tuple(i.rating_key for i in hits.values()))
        if title_fallback and entry.title:
            return self._by_title_and_year(entry, kinds)
        return Match("not_in_library")

    def _by_title_and_year(self, entry: ListEntry, kinds: Sequence[Kind]) -> Match:
        name = normal_title(entry.title)
        found = [
            (kind, local)
            for kind in kinds
            for local in self._by_title.get((kind, name), [])
            if entry.year is None or local.year is None or local.year == entry.year
        ]
        if len(found) == 1:
            kind, local = found[0]
            return Match("matched", local.item.rating_key, kind, "title")
        if found:
            return Match("ambiguous", candidates=tuple(x.item.rating_key for _, x in found))
        return Match("not_in_library")


async def load_local(gateway: PlexGateway, library: Library, cfg: PlexConfig) -> LocalIndex:
    """The watched sections' movies and shows with their guids (one call per section)."""

    async def section(section_id: int) -> list[LocalTitle]:
        data = await gateway.query(
            f"/library/sections/{section_id}/all", params={"includeGuids": 1}
        )
        out = []
        for elem in data:
            if elem.tag not in ("Video", "Directory") or not elem.get("ratingKey"):
                continue
            year = elem.get("year") or ""
            out.append(LocalTitle(item_from_xml(elem, cfg), int(year) if year.isdigit() else None))
        return out

    found = await asyncio.gather(*(section(s.id) for s in await library.sections()))
    return LocalIndex(t for titles in found for t in titles)
