"""Provider answers in their documented shapes (trimmed to the fields that matter)."""

from __future__ import annotations

from typing import Any


def trakt_movie(title: str, year: int, imdb: str | None, tmdb: int | None,
                released: str | None = None) -> dict[str, Any]:  # fmt: skip
    return {"title": title, "year": year, "ids": {"trakt": 16662, "slug": title.lower(),
            "imdb": imdb, "tmdb": tmdb}, "released": released, "runtime": 148,
            "certification": "PG-13"}  # fmt: skip


def trakt_show(title: str, year: int, imdb: str | None, tmdb: int | None, tvdb: int | None,
               first_aired: str | None = None) -> dict[str, Any]:  # fmt: skip
    return {"title": title, "year": year, "ids": {"trakt": 1390, "slug": title.lower(),
            "tvdb": tvdb, "imdb": imdb, "tmdb": tmdb}, "first_aired": first_aired,
            "network": "HBO", "status": "ended"}  # fmt: skip


INCEPTION_T = trakt_movie("Inception", 2010, "tt1375666", 27205, "2010-07-16")
HEAT_T = trakt_movie("Heat", 1995, "tt0113277", 949, "1995-12-15")
ARRIVAL_T = trakt_movie("Arrival", 2016, "tt2543164", 329865, "2016-11-11")
MISSING_T = trakt_movie("Not Here", 2001, "tt0000001", 1, "2001-01-01")
GOT_T = trakt_show("Game of Thrones", 2011, "tt0944947", 1399, 121361, "2011-04-18T01:00:00.000Z")
EXPANSE_T = trakt_show("The Expanse", 2015, "tt3230854", 63639, 280619,
                       "2015-12-15T02:00:00.000Z")  # fmt: skip

# GET /users/{user}/lists/{slug}/items: every row has rank, type and the typed object.
TRAKT_LIST_PAGE_1 = [
    {"rank": 1, "id": 101, "listed_at": "2024-01-01T00:00:00.000Z", "notes": None,
     "type": "movie", "movie": INCEPTION_T},
    {"rank": 2, "id": 102, "listed_at": "2024-01-01T00:00:00.000Z", "notes": "great",
     "type": "show", "show": GOT_T},
    {"rank": 3, "id": 103, "listed_at": "2024-01-01T00:00:00.000Z", "notes": None,
     "type": "person", "person": {"name": "Bryan Cranston", "ids": {"trakt": 297737}}},
]  # fmt: skip
TRAKT_LIST_PAGE_2 = [
    {"rank": 4, "id": 104, "listed_at": "2024-01-02T00:00:00.000Z", "notes": None,
     "type": "season", "season": {"number": 1, "ids": {"trakt": 3950, "tvdb": 364731}},
     "show": EXPANSE_T},
    {"rank": 5, "id": 105, "listed_at": "2024-01-02T00:00:00.000Z", "notes": None,
     "type": "movie", "movie": MISSING_T},
]  # fmt: skip

# GET /movies/trending: watchers + movie; /shows/popular: bare shows; anticipated: list_count.
TRAKT_TRENDING_MOVIES = [{"watchers": 21, "movie": HEAT_T}, {"watchers": 17, "movie": ARRIVAL_T}]
TRAKT_POPULAR_SHOWS = [GOT_T, EXPANSE_T]
TRAKT_ANTICIPATED_MOVIES = [{"list_count": 5362, "movie": ARRIVAL_T}]
TRAKT_WATCHLIST = [
    {"rank": 1, "id": 1, "listed_at": "2024-03-01T00:00:00.000Z", "notes": None,
     "type": "movie", "movie": HEAT_T},
    {"rank": 2, "id": 2, "listed_at": "2024-03-01T00:00:00.000Z", "notes": None,
     "type": "episode", "episode": {"season": 1, "number": 1, "title": "Dulcinea",
                                    "ids": {"trakt": 1, "tvdb": 5407400}},
     "show": EXPANSE_T},
]  # fmt: skip


def tmdb_movie(tmdb: int, title: str, release: str, media_type: str | None = None
               ) -> dict[str, Any]:  # fmt: skip
    row: dict[str, Any] = {"adult": False, "backdrop_path": "/x.jpg", "genre_ids": [28, 878],
                           "id": tmdb, "original_language": "en", "original_title": title,
                           "overview": "…", "popularity": 83.9, "poster_path": "/y.jpg",
                           "release_date": release, "title": title, "video": False,
                           "vote_average": 8.4, "vote_count": 35000}  # fmt: skip
    if media_type:
        row["media_type"] = media_type
    return row


def tmdb_tv(tmdb: int, name: str, first_air: str, media_type: str | None = None
            ) -> dict[str, Any]:  # fmt: skip
    row: dict[str, Any] = {
        "backdrop_path": "/b.jpg",
        "first_air_date": first_air,
        "genre_ids": [10765],
        "id": tmdb,
        "name": name,
        "origin_country": ["US"],
        "original_language": "en",
        "original_name": name,
        "overview": "…",
        "popularity": 369.6,
        "poster_path": "/p.jpg",
        "vote_average": 8.4,
        "vote_count": 21000,
    }
    if media_type:
        row["media_type"] = media_type
    return row


# GET /3/list/{id}: the v3 list object with `items` (media_type on each).
TMDB_V3_LIST = {
    "created_by": "travisbell", "description": "Films to keep close", "favorite_count": 0,
    "id": "8250", "iso_639_1": "en", "item_count": 3, "name": "Keep close",
    "poster_path": None, "page": 1, "total_pages": 1, "total_results": 3,
    "items": [tmdb_movie(27205, "Inception", "2010-07-15", "movie"),
              tmdb_tv(1399, "Game of Thrones", "2011-04-17", "tv"),
              {"id": 287, "media_type": "person", "name": "Brad Pitt"},
              tmdb_movie(329865, "Arrival", "2016-11-10", "movie")],
}  # fmt: skip
# GET /4/list/{id}: `results`, paginated.
TMDB_V4_LIST_PAGES = [
    {"page": 1, "total_pages": 2, "total_results": 2, "id": 7100, "name": "v4",
     "results": [tmdb_movie(949, "Heat", "1995-12-15", "movie")]},
    {"page": 2, "total_pages": 2, "total_results": 2, "id": 7100, "name": "v4",
     "results": [tmdb_tv(63639, "The Expanse", "2015-12-14", "tv")]},
]  # fmt: skip
TMDB_POPULAR_MOVIES = {"page": 1, "total_pages": 1, "total_results": 2,
                       "results": [tmdb_movie(438631, "Dune", "2021-09-15"),
                                   tmdb_movie(949, "Heat", "1995-12-15")]}  # fmt: skip
TMDB_TRENDING_TV_DAY = {
    "page": 1,
    "total_pages": 1,
    "total_results": 1,
    "results": [tmdb_tv(63639, "The Expanse", "2015-12-14", "tv")],
}
TMDB_NOW_PLAYING = {"dates": {"maximum": "2024-05-01", "minimum": "2024-03-14"}, "page": 1,
                    "total_pages": 1, "total_results": 1,
                    "results": [tmdb_movie(438631, "Dune", "2021-09-15")]}  # fmt: skip
TMDB_COLLECTION = {"id": 2344, "name": "Some Collection", "overview": "…",
                   "parts": [tmdb_movie(329865, "Arrival", "2016-11-10", "movie"),
                             tmdb_movie(27205, "Inception", "2010-07-15", "movie")]}  # fmt: skip

# GET /list/{ls}/export: IMDb's CSV export.
IMDB_EXPORT = (
    "Position,Const,Created,Modified,Description,Title,URL,Title Type,IMDb Rating,"
    "Runtime (mins),Year,Genres,Num Votes,Release Date,Directors\r\n"
    "1,tt0113277,2024-01-01,2024-01-01,,Heat,https://www.imdb.com/title/tt0113277/,movie,8.3,"
    '170,1995,"Action, Crime, Drama",700000,1995-12-15,Michael Mann\r\n'
    "2,tt3230854,2024-01-01,2024-01-01,,The Expanse,https://www.imdb.com/title/tt3230854/,"
    'tvSeries,8.5,60,2015,"Drama, Mystery, Sci-Fi",200000,2015-12-14,\r\n'
    "3,tt5407400,2024-01-01,2024-01-01,,Dulcinea,https://www.imdb.com/title/tt5407400/,"
    "tvEpisode,8.0,44,2015,Drama,5000,2015-11-23,Terry McDonough\r\n"
    "4,tt1160419,2024-01-01,2024-01-01,,Dune: Part One,https://www.imdb.com/title/tt1160419/,"
    'Movie,8.0,155,2021,"Action, Adventure",800000,2021-09-03,Denis Villeneuve\r\n'
)

RSS_FEED = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Picks</title><link>https://example.org/</link>
<item><title>Inception (2010)</title><link>https://www.imdb.com/title/tt1375666/</link>
<guid isPermaLink="false">picks-1</guid></item>
<item><title>Game of Thrones</title><link>https://www.themoviedb.org/tv/1399-game-of-thrones</link>
<guid>picks-2</guid></item>
<item><title>The Expanse</title><link>https://example.org/p/3</link>
<guid>https://thetvdb.com/?tab=series&amp;id=280619</guid></item>
<item><title>No ids here</title><link>https://example.org/p/4</link></item>
</channel></rss>"""

ATOM_FEED = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom picks</title>
<entry><title>Heat (1995)</title><id>urn:picks:1</id>
<link href="https://www.themoviedb.org/movie/949-heat"/></entry>
<entry><title>Arrival</title><id>https://www.imdb.com/title/tt2543164/</id></entry>
</feed>"""
