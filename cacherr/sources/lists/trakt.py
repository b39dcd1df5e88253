"""Trakt (API v2): a user's public list, a user's watchlist, and the movie/show charts.

Sources: `user/slug` (or `users/<user>/lists/<slug>`, or the list's trakt.tv address),
`watchlist/<user>`, and `trending|popular|anticipated/movies|shows`. Requests carry
`trakt-api-version: 2` and `trakt-api-key: <client id>`; pages follow the
`X-Pagination-Page-Count` header. Items come with `extended=full` for their release dates.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote, urlsplit

from cacherr.config.models import ListsConfig
from cacherr.sources.lists.http import Fetcher, parse_json
from cacherr.sources.lists.model import (
    ExternalIds,
    FetchResult,
    Kind,
    ListEntry,
    ListFetchError,
    parse_date,
    year_of,
)

PAGE_LIMIT: Final = 100
CHARTS: Final = ("trending", "popular", "anticipated")
_NAME = r"[A-Za-z0-9_.\-~%]+"
_USER_LIST = re.compile(rf"^(?:users/)?({_NAME})/(?:lists/)?({_NAME})$")
_WATCHLIST = re.compile(rf"^(?:watchlist/({_NAME})|users/({_NAME})/watchlist)$")
_CHART = re.compile(r"^(trending|popular|anticipated)/(movies|shows)$")


@dataclass(frozen=True)
class TraktTarget:
    """What to read: an API path; `chart_kind` for the charts (their rows may be bare)."""

    path: str
    label: str
    chart_kind: Kind | None = None


def parse_source(source: str) -> TraktTarget:
    """The target of a Trakt source, or ValueError saying which forms are accepted."""
    text = source.strip()
    if text.startswith(("http://", "https://")):
        text = urlsplit(text).path
    text = text.strip("/")
    chart = _CHART.match(text)
    if chart:
        kind: Kind = "movie" if chart.group(2) == "movies" else "show"
        return TraktTarget(f"/{chart.group(2)}/{chart.group(1)}", text, kind)
    watch = _WATCHLIST.match(text)
    if watch:
        user = watch.group(1) or watch.group(2)
        return TraktTarget(f"/users/{quote(user)}/watchlist", f"{user}'s watchlist")
    listed = _USER_LIST.match(text)
    if listed and listed.group(1) not in CHARTS:
        user, slug = listed.group(1), listed.group(2)
        return TraktTarget(f"/users/{quote(user)}/lists/{quote(slug)}/items", f"{user}/{slug}")
    raise ValueError(
        "a Trakt source is 'user/list-slug', 'watchlist/user', "
        "'trending|popular|anticipated/movies|shows' or a trakt.tv list address"
    )


def entry_from_row(row: Any, chart_kind: Kind | None = None) -> ListEntry | None:
    """One Trakt row (list item, watchlist item, chart row or bare title) as an entry.

    Seasons and episodes stand for their show; people and unknown rows are skipped.
    """
    if not isinstance(row, dict):
        return None
    kind: Kind
    kind_text = row.get("type")
    if kind_text in ("movie", "show", "season", "episode"):
        kind = "movie" if kind_text == "movie" else "show"
        obj = row.get(kind)
    elif isinstance(row.get("movie"), dict):
        kind, obj = "movie", row["movie"]
    elif isinstance(row.get("show"), dict):
        kind, obj = "show", row["show"]
    elif chart_kind is not None and isinstance(row.get("ids"), dict):
        kind, obj = chart_kind, row
    else:
        return None
    if not isinstance(obj, dict):
        return None
    raw_ids = obj.get("ids")
    ids = ExternalIds.from_dict(raw_ids if isinstance(raw_ids, dict) else {})
    released = parse_date(obj.get("released") if kind == "movie" else obj.get("first_aired"))
    title = obj.get("title")
    return ListEntry(kind, title if isinstance(title, str) else "", year_of(obj.get("year")),
                     ids, released)  # fmt: skip


async def fetch(fetcher: Fetcher, config: ListsConfig, source: str, cap: int) -> FetchResult:
    """Read a Trakt source, at most `cap` entries (pages of 100)."""
    if config.trakt_client_id is None or not config.trakt_client_id.get_secret_value():
        raise ListFetchError("lists.trakt_client_id is not set: add a Trakt API client id")
    target = parse_source(source)
    headers = {
        "Content-Type": "application/json",
        "trakt-api-version": "2",
        "trakt-api-key": config.trakt_client_id.get_secret_value(),
    }
    url = config.trakt_url.rstrip("/") + target.path
    what = f"Trakt ({target.label})"
    entries: list[ListEntry] = []
    page, page_count = 1, 1
    max_pages = math.ceil(cap / PAGE_LIMIT)
    while True:
        params = {"extended": "full", "page": str(page), "limit": str(PAGE_LIMIT)}
        body = await fetcher.get(url, what=what, params=params, headers=headers)
        rows = parse_json(body, what)
        if not isinstance(rows, list):
            raise ListFetchError(f"{what} answered {type(rows).__name__}, not a list of items")
        for row in rows:
            entry = entry_from_row(row, target.chart_kind)
            if entry is not None:
                entries.append(entry)
        count_header = body.headers.get("X-Pagination-Page-Count", "")
        page_count = int(count_header) if count_header.isdigit() else page
        if page >= page_count or page >= max_pages or not rows:
            break
        page += 1
    # Charts never end; only a real list read short is "truncated".
    more = page < page_count or len(entries) > cap
    truncated = more and target.chart_kind is None
    return FetchResult(entries[:cap], truncated, f"read {page} of {page_count} pages")
