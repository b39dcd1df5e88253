"""One entry point over the providers: check a definition's source, fetch a list."""

from __future__ import annotations

from cacherr.config.models import ImportList, ListsConfig
from cacherr.sources.lists import custom, imdb, tmdb, trakt
from cacherr.sources.lists.http import Fetcher
from cacherr.sources.lists.model import MAX_ENTRIES, FetchResult, ListFetchError


def check_source(provider: str, source: str) -> None:
    """Raise ValueError (a person-readable reason) when `source` is not one `provider` reads."""
    if provider == "trakt":
        trakt.parse_source(source)
    elif provider == "tmdb":
        tmdb.parse_source(source)
    elif provider == "imdb":
        imdb.parse_source(source)
    else:
        custom.check_url(source)


def entry_cap(definition: ImportList) -> int:
    """How many entries are read of a list: enough to find `max_items` in the library."""
    return min(MAX_ENTRIES, max(definition.max_items * 10, 1000))


async def fetch_entries(
    fetcher: Fetcher, config: ListsConfig, definition: ImportList
) -> FetchResult:
    """Read a list's entries in order; every failure is a `ListFetchError` with the reason."""
    cap = entry_cap(definition)
    provider, source = definition.provider, definition.source
    try:
        if provider == "trakt":
            return await trakt.fetch(fetcher, config, source, cap)
        if provider == "tmdb":
            return await tmdb.fetch(fetcher, config, source, cap)
        if provider == "imdb":
            return await imdb.fetch(fetcher, config, source, cap)
        return await custom.fetch(fetcher, source, cap, provider=provider)
    except ValueError as exc:
        raise ListFetchError(f"the source cannot be read: {exc}") from None
