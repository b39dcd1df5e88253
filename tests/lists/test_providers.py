"""Every provider against a local fake speaking its documented format."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from cacherr.config.models import ImportList, ListsConfig
from cacherr.sources.lists import ExternalIds, Fetcher, FetchResult, check_source, fetch_entries

from . import samples
from .conftest import Providers

V4_TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJhdWQiOiJ4eXoifQ.c2lnbmF0dXJl"


def config(providers: Providers, **values: Any) -> ListsConfig:
    base = {
        "trakt_client_id": "trakt-client-0123",
        "tmdb_api_key": "0123456789abcdef",
        "trakt_url": providers.url,
        "tmdb_url": providers.url,
        "imdb_url": providers.url,
    }
    return ListsConfig.model_validate({**base, **values})


async def read(fetcher: Fetcher, providers: Providers, provider: str, source: str,
               **values: Any) -> FetchResult:  # fmt: skip
    definition = ImportList.model_validate({"name": "t", "provider": provider, "source": source})
    return await fetch_entries(fetcher, config(providers, **values), definition)


def ids(result: FetchResult) -> list[tuple[str | None, ExternalIds]]:
    return [(e.kind, e.ids) for e in result.entries]


async def test_trakt_user_list_pages_and_headers(fetcher: Fetcher, providers: Providers) -> None:
    path = "/users/sean/lists/keep-close/items"
    providers.json(path, None, pages=[samples.TRAKT_LIST_PAGE_1, samples.TRAKT_LIST_PAGE_2],
                   trakt_pages=True)  # fmt: skip
    result = await read(fetcher, providers, "trakt", "sean/keep-close")
    assert [(e.kind, e.title) for e in result.entries] == [
        ("movie", "Inception"), ("show", "Game of Thrones"), ("show", "The Expanse"),
        ("movie", "Not Here")]  # fmt: skip
    assert result.entries[0].ids == ExternalIds("tt1375666", 27205, None)
    assert result.entries[0].released == dt.date(2010, 7, 16)
    assert result.entries[1].ids == ExternalIds("tt0944947", 1399, 121361)
    assert result.entries[1].released == dt.date(2011, 4, 18)
    assert not result.truncated
    seen = providers.last(path)
    assert seen.headers["trakt-api-version"] == "2"
    assert seen.headers["trakt-api-key"] == "trakt-client-0123"
    assert seen.query["page"] == "2" and seen.query["extended"] == "full"
    # The same list by its trakt.tv address.
    again = await read(fetcher, providers, "trakt", "https://trakt.tv/users/sean/lists/keep-close")
    assert ids(again) == ids(result)


async def test_trakt_watchlist_and_charts(fetcher: Fetcher, providers: Providers) -> None:
    providers.json("/users/sean/watchlist", samples.TRAKT_WATCHLIST)
    providers.json("/movies/trending", samples.TRAKT_TRENDING_MOVIES)
    providers.json("/shows/popular", samples.TRAKT_POPULAR_SHOWS)
    providers.json("/movies/anticipated", samples.TRAKT_ANTICIPATED_MOVIES)
    watch = await read(fetcher, providers, "trakt", "watchlist/sean")
    assert [(e.kind, e.title) for e in watch.entries] == [
        ("movie", "Heat"),
        ("show", "The Expanse"),
    ]
    trending = await read(fetcher, providers, "trakt", "trending/movies")
    assert [e.title for e in trending.entries] == ["Heat", "Arrival"]
    popular = await read(fetcher, providers, "trakt", "popular/shows")
    assert [(e.kind, e.ids.tvdb) for e in popular.entries] == [("show", 121361), ("show", 280619)]
    anticipated = await read(fetcher, providers, "trakt", "anticipated/movies")
    assert [e.ids.imdb for e in anticipated.entries] == ["tt2543164"]


async def test_tmdb_v3_list_uses_the_api_key_query(fetcher: Fetcher, providers: Providers) -> None:
    providers.json("/3/list/8250", samples.TMDB_V3_LIST)
    result = await read(fetcher, providers, "tmdb", "list/8250")
    assert ids(result) == [("movie", ExternalIds(tmdb=27205)), ("show", ExternalIds(tmdb=1399)),
                           ("movie", ExternalIds(tmdb=329865))]  # fmt: skip
    assert result.entries[0].year == 2010
    assert providers.last("/3/list/8250").query["api_key"] == "0123456789abcdef"
    by_address = await read(fetcher, providers, "tmdb", "https://www.themoviedb.org/list/8250")
    assert ids(by_address) == ids(result)


async def test_tmdb_v4_list_with_a_read_token(fetcher: Fetcher, providers: Providers) -> None:
    providers.json("/4/list/7100", None, pages=samples.TMDB_V4_LIST_PAGES)
    result = await read(fetcher, providers, "tmdb", "7100", tmdb_api_key=V4_TOKEN)
    assert ids(result) == [("movie", ExternalIds(tmdb=949)), ("show", ExternalIds(tmdb=63639))]
    seen = providers.last("/4/list/7100")
    assert seen.headers["Authorization"] == f"Bearer {V4_TOKEN}"
    assert "api_key" not in seen.query


async def test_tmdb_charts_and_collection(fetcher: Fetcher, providers: Providers) -> None:
    providers.json("/3/movie/popular", samples.TMDB_POPULAR_MOVIES)
    providers.json("/3/trending/tv/day", samples.TMDB_TRENDING_TV_DAY)
    providers.json("/3/movie/now_playing", samples.TMDB_NOW_PLAYING)
    providers.json("/3/collection/2344", samples.TMDB_COLLECTION)
    popular = await read(fetcher, providers, "tmdb", "popular/movies")
    assert [(e.kind, e.ids.tmdb) for e in popular.entries] == [("movie", 438631), ("movie", 949)]
    trending = await read(fetcher, providers, "tmdb", "trending/shows/day")
    assert [(e.kind, e.title) for e in trending.entries] == [("show", "The Expanse")]
    playing = await read(fetcher, providers, "tmdb", "now_playing")
    assert [e.ids.tmdb for e in playing.entries] == [438631]
    collection = await read(fetcher, providers, "tmdb", "collection/2344")
    assert [e.title for e in collection.entries] == ["Inception", "Arrival"]  # by release


async def test_imdb_list_and_watchlist_exports(fetcher: Fetcher, providers: Providers) -> None:
    providers.text("/list/ls012345678/export", samples.IMDB_EXPORT, content_type="text/csv")
    providers.text("/user/ur0012345/watchlist/export", samples.IMDB_EXPORT)
    result = await read(fetcher, providers, "imdb", "ls012345678")
    # The episode row is dropped: nothing of a show to cache from an episode's id.
    assert [(e.kind, e.ids.imdb, e.year) for e in result.entries] == [
        ("movie", "tt0113277", 1995),
        ("show", "tt3230854", 2015),
        ("movie", "tt1160419", 2021),
    ]
    assert result.entries[0].released == dt.date(1995, 12, 15)
    watch = await read(fetcher, providers, "imdb", "https://www.imdb.com/user/ur0012345/watchlist")
    assert ids(watch) == ids(result)


async def test_rss_and_atom_feeds(fetcher: Fetcher, providers: Providers) -> None:
    providers.text("/feeds/picks.rss", samples.RSS_FEED, content_type="application/rss+xml")
    providers.text("/feeds/picks.atom", samples.ATOM_FEED, content_type="application/atom+xml")
    rss = await read(fetcher, providers, "rss", providers.url + "/feeds/picks.rss")
    assert [(e.kind, e.title, e.year, e.ids) for e in rss.entries] == [
        (None, "Inception", 2010, ExternalIds(imdb="tt1375666")),
        ("show", "Game of Thrones", None, ExternalIds(tmdb=1399)),
        ("show", "The Expanse", None, ExternalIds(tvdb=280619)),
    ]
    atom = await read(fetcher, providers, "rss", providers.url + "/feeds/picks.atom")
    assert ids(atom) == [("movie", ExternalIds(tmdb=949)), (None, ExternalIds("tt2543164"))]


async def test_custom_json_and_csv_lists(fetcher: Fetcher, providers: Providers) -> None:
    providers.json("/objects.json", [
        {"title": "Heat", "year": 1995, "imdb_id": "tt0113277", "poster_url": "x"},
        {"name": "The Expanse", "type": "show", "tvdb_id": 280619},
        {"title": "no ids"},
    ])  # fmt: skip
    providers.json("/ids.json", {"items": ["tt1375666", "tmdb:949", "tvdb:280619", 27205]})
    providers.text("/header.csv", "title,imdb_id,tmdb_id\nHeat,tt0113277,949\nDune,,438631\n")
    providers.text("/ids.csv", "tt1375666\nhttps://www.themoviedb.org/movie/949\n\n")
    objects = await read(fetcher, providers, "url", providers.url + "/objects.json")
    assert ids(objects) == [(None, ExternalIds("tt0113277")), ("show", ExternalIds(tvdb=280619))]
    bare = await read(fetcher, providers, "url", providers.url + "/ids.json")
    assert ids(bare) == [
        (None, ExternalIds("tt1375666")),
        (None, ExternalIds(tmdb=949)),
        ("show", ExternalIds(tvdb=280619)),
        (None, ExternalIds(tmdb=27205)),
    ]
    header = await read(fetcher, providers, "url", providers.url + "/header.csv")
    assert ids(header) == [(None, ExternalIds("tt0113277", 949)), (None, ExternalIds(tmdb=438631))]
    lines = await read(fetcher, providers, "url", providers.url + "/ids.csv")
    assert ids(lines) == [(None, ExternalIds("tt1375666")), ("movie", ExternalIds(tmdb=949))]


@pytest.mark.parametrize(("provider", "source"), [
    ("trakt", "just-a-word"), ("trakt", "popular/people"), ("tmdb", "list/abc"),
    ("tmdb", "trending/movies/month"), ("imdb", "tt0111161"), ("rss", "ftp://example.org/x"),
    ("url", "not a url"),
])  # fmt: skip
def test_sources_a_provider_cannot_read_are_refused(provider: str, source: str) -> None:
    with pytest.raises(ValueError, match="source is"):
        check_source(provider, source)


@pytest.mark.parametrize(("provider", "source"), [
    ("trakt", "sean/keep-close"), ("trakt", "users/sean/lists/keep-close"),
    ("trakt", "watchlist/sean"), ("trakt", "anticipated/shows"), ("tmdb", "8250"),
    ("tmdb", "collection/10-star-wars-collection"), ("tmdb", "trending/all"),
    ("imdb", "https://www.imdb.com/list/ls012345678/"), ("rss", "https://example.org/f.rss"),
])  # fmt: skip
def test_sources_each_provider_reads(provider: str, source: str) -> None:
    check_source(provider, source)
