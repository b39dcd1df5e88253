"""The words of import lists: an entry as a provider lists it, a fetch's result, a match.

Every provider turns its own format into `ListEntry`s; the matcher turns entries into
local Plex items; the service stores both and turns matches into `list` claims.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from cacherr.errors import CacherrError

Kind = Literal["movie", "show"]
MatchState = Literal["pending", "matched", "not_in_library", "ambiguous"]
ListState = Literal["new", "ok", "failed", "truncated"]
MatchedBy = Literal["imdb", "tmdb", "tvdb", "title"]

# The most entries one list keeps, whatever the provider offers: past it the list is
# marked truncated and the first ones are used.
MAX_ENTRIES: Final = 10_000


@dataclass(frozen=True, slots=True)
class ExternalIds:
    """The ids a provider gives for a title; any of them may be missing."""

    imdb: str | None = None
    tmdb: int | None = None
    tvdb: int | None = None

    def __bool__(self) -> bool:
        return bool(self.imdb or self.tmdb or self.tvdb)

    def as_dict(self) -> dict[str, Any]:
        """The ids that are set, for JSON."""
        return {k: v for k, v in (("imdb", self.imdb), ("tmdb", self.tmdb),
                                  ("tvdb", self.tvdb)) if v}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExternalIds:
        """Back from `as_dict` (and from providers' loosely typed id objects)."""
        return cls(
            imdb=imdb_id(data.get("imdb")),
            tmdb=positive_int(data.get("tmdb")),
            tvdb=positive_int(data.get("tvdb")),
        )


@dataclass(frozen=True, slots=True)
class ListEntry:
    """One title of a list: `kind` is None when the source does not say (a bare IMDb id)."""

    kind: Kind | None
    title: str
    year: int | None
    ids: ExternalIds
    released: dt.date | None = None


@dataclass(frozen=True)
class FetchResult:
    """What a provider read: the entries in list order, and whether it stopped early."""

    entries: list[ListEntry]
    truncated: bool = False
    note: str = ""


@dataclass(frozen=True)
class Match:
    """How one entry matched the library: the local item's ratingKey when matched."""

    state: MatchState
    rating_key: str | None = None
    item_type: Kind | None = None
    by: MatchedBy | None = None
    candidates: tuple[str, ...] = field(default=())

    @property
    def by_title(self) -> bool:
        """Matched on title and year rather than an id (flagged on the page)."""
        return self.by == "title"


class ListFetchError(CacherrError):
    """A list could not be read; `message` is the reason shown with the list."""

    status = 502
    code = "list_fetch_failed"


def imdb_id(value: object) -> str | None:
    """An IMDb title id ("tt0111161") or None."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("tt") and text[2:].isdigit() and len(text) > 2:
            return text
    return None


def positive_int(value: object) -> int | None:
    """A positive integer id from an int or a digit string, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
        return number if number > 0 else None
    return None


def year_of(value: object) -> int | None:
    """A plausible year from an int or text ("2010", "2010-07-16")."""
    number = positive_int(value) if not isinstance(value, str) else positive_int(value[:4])
    return number if number is not None and 1870 <= number <= 2200 else None


def parse_date(value: object) -> dt.date | None:
    """A date from "2010-07-16" or an ISO timestamp ("2011-04-18T01:00:00.000Z")."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None
