"""TMDb: a list by id, the popular, trending and now-playing charts, and a collection.

Sources: `list/<id>` (or just the id, or its themoviedb.org address), `popular/movies|shows`,
`trending/movies|shows|all[/day|week]`, `now_playing`, `collection/<id>`. A v3 API key
travels as the `api_key` query parameter; a v4 read access token (a JWT) as
`Authorization: Bearer` and then lists are read through v4 (`/4/list/<id>`). TMDb gives
only its own ids here (no IMDb id for movies in list results): matching is by tmdb id.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from cacherr.config.models import ListsConfig
from cacherr.sources.lists.http import Fetcher, parse_json
from cacherr.sources.lists.model import (
    ExternalIds,
    FetchResult,
    Kind,
    ListEntry,
    ListFetchError,
    parse_date,
    positive_int,
    year_of,
)

PAGE_SIZE: Final = 20  # TMDb's fixed page size
MAX_PAGES: Final = 500  # TMDb refuses pages past 500
_KINDS: Final[dict[str, Kind]] = {"movies": "movie", "shows": "show"}
_TMDB_KIND: Final[dict[str, str]] = {"movies": "movie", "shows": "tv", "all": "all"}


@dataclass(frozen=True)
class TmdbTarget:
    """What to read: `kind` is "list", "chart" or "collection"; `ident` the list id or path."""

    kind: str
    ident: str
    label: str
    media: Kind | None = None


def parse_source(source: str) -> TmdbTarget:
    """The target of a TMDb source, or ValueError saying which forms are accepted."""
    text = source.strip()
    if text.startswith(("http://", "https://")):
        text = urlsplit(text).path
    text = text.strip("/").lower()
    text = re.sub(r"^(?:3|4)/", "", text)
    if text.isdigit():
        return TmdbTarget("list", text, f"list {text}")
    parts = text.split("/")
    head = parts[0].split("-")[0] if parts else ""
    if head in ("list", "collection") and len(parts) == 2:
        ident = parts[1].split("-")[0]  # themoviedb.org/collection/10-star-wars-collection
        if ident.isdigit():
            return TmdbTarget(head, ident, f"{head} {ident}")
    if parts[0] == "popular" and len(parts) == 2 and parts[1] in _KINDS:
        tmdb_kind = _TMDB_KIND[parts[1]]
        return TmdbTarget("chart", f"/3/{tmdb_kind}/popular", text, _KINDS[parts[1]])
    if parts[0] == "trending" and len(parts) in (2, 3) and parts[1] in _TMDB_KIND:
        window = parts[2] if len(parts) == 3 else "week"
        if window in ("day", "week"):
            path = f"/3/trending/{_TMDB_KIND[parts[1]]}/{window}"
            return TmdbTarget("chart", path, text, _KINDS.get(parts[1]))
    if text in ("now_playing", "now_playing/movies", "movie/now_playing"):
        return TmdbTarget("chart", "/3/movie/now_playing", "now playing", "movie")
    raise ValueError(
        "a TMDb source is 'list/<id>', 'collection/<id>', 'popular/movies|shows', "
        "'trending/movies|shows|all[/day|week]' or 'now_playing'"
    )


def is_read_token(key: str) -> bool:
    """A v4 read access token (a JWT) rather than a v3 API key (32 hex digits)."""
    return key.startswith("eyJ") and key.count(".") == 2


def entry_from_result(row: Any, default: Kind | None = None) -> ListEntry | None:
    """One TMDb result (movie or tv) as an entry; people are skipped."""
    if not isinstance(row, dict):
        return None
    media = row.get("media_type")
    kind: Kind | None
    if media == "movie":
        kind = "movie"
    elif media == "tv":
        kind = "show"
    elif media is None:
        kind = default
    else:
        return None
    tmdb = positive_int(row.get("id"))
    if kind is None or tmdb is None:
        return None
    title = row.get("title") if kind == "movie" else row.get("name")
    released = parse_date(row.get("release_date") if kind == "movie" else row.get("first_air_date"))
    return ListEntry(kind, title if isinstance(title, str) else "",
                     released.year if released else year_of(row.get("year")),
                     ExternalIds(tmdb=tmdb), released)  # fmt: skip


async def fetch(fetcher: Fetcher, config: ListsConfig, source: str, cap: int) -> FetchResult:
    """Read a TMDb source, at most `cap` entries."""
    if config.tmdb_api_key is None or not config.tmdb_api_key.get_secret_value():
        raise ListFetchError("lists.tmdb_api_key is not set: add a TMDb API key or read token")
    key = config.tmdb_api_key.get_secret_value()
    target = parse_source(source)
    base = config.tmdb_url.rstrip("/")
    headers = {"Accept": "application/json"}
    auth: dict[str, str] = {}
    if is_read_token(key):
        headers["Authorization"] = f"Bearer {key}"
    else:
        auth["api_key"] = key
    what = f"TMDb ({target.label})"

    if target.kind == "collection":
        body = await fetcher.get(f"{base}/3/collection/{target.ident}", what=what,
                                 params=auth, headers=headers)  # fmt: skip
        data = parse_json(body, what)
        parts = data.get("parts") if isinstance(data, dict) else None
        if not isinstance(parts, list):
            raise ListFetchError(f"{what} answered no 'parts'")
        entries = [e for e in (entry_from_result(p, "movie") for p in parts) if e is not None]
        entries.sort(key=lambda e: (e.released is None, e.released or e.year or 0))
        return FetchResult(entries[:cap], len(entries) > cap)

    items_key: tuple[str, ...]
    if target.kind == "list":
        version = "4" if "Authorization" in headers else "3"
        url, items_key = f"{base}/{version}/list/{target.ident}", ("items", "results")
    else:
        url, items_key = base + target.ident, ("results",)
    entries = []
    page, total_pages = 1, 1
    max_pages = min(MAX_PAGES, math.ceil(cap / PAGE_SIZE))
    while True:
        body = await fetcher.get(url, what=what, params={**auth, "page": str(page)},
                                 headers=headers)  # fmt: skip
        data = parse_json(body, what)
        if not isinstance(data, dict):
            raise ListFetchError(f"{what} answered {type(data).__name__}, not an object")
        rows = next((data[k] for k in items_key if isinstance(data.get(k), list)), None)
        if rows is None:
            raise ListFetchError(f"{what} answered no {' or '.join(items_key)}")
        entries.extend(e for e in (entry_from_result(r, target.media) for r in rows) if e)
        total = data.get("total_pages")
        total_pages = total if isinstance(total, int) and total > 0 else page
        if page >= total_pages or page >= max_pages or not rows or len(entries) >= cap:
            break
        page += 1
    more = page < total_pages or len(entries) > cap
    return FetchResult(entries[:cap], more and target.kind == "list",
                       f"read {page} of {total_pages} pages")  # fmt: skip
