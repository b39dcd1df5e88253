"""Import lists (Trakt, TMDb, IMDb, RSS and custom URLs), matched to the library by id.

Providers read a list into `ListEntry`s; the matcher finds each in the library (IMDb →
TMDb → TVDB, title and year only when a list allows it); the service stores entries and
state in `lists`/`list_items` and turns matches into `list` claims; the scheduler refreshes
each list on its own interval.
"""

from cacherr.sources.lists.build import FillRoom, holder
from cacherr.sources.lists.http import Fetcher
from cacherr.sources.lists.masking import masked_url, shown_source
from cacherr.sources.lists.matcher import LocalIndex, LocalTitle
from cacherr.sources.lists.model import (
    ExternalIds,
    FetchResult,
    ListEntry,
    ListFetchError,
    Match,
)
from cacherr.sources.lists.plexside import PlexLists, PlexSide, size_lookup
from cacherr.sources.lists.providers import check_source, fetch_entries
from cacherr.sources.lists.service import ListScheduler, ListService
from cacherr.sources.lists.store import ListRepository, ListStatus, StoredItem

__all__ = [
    "ExternalIds",
    "FetchResult",
    "Fetcher",
    "FillRoom",
    "ListEntry",
    "ListFetchError",
    "ListRepository",
    "ListScheduler",
    "ListService",
    "ListStatus",
    "LocalIndex",
    "LocalTitle",
    "Match",
    "PlexLists",
    "PlexSide",
    "StoredItem",
    "check_source",
    "fetch_entries",
    "holder",
    "masked_url",
    "shown_source",
    "size_lookup",
]
