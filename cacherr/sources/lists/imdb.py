"""IMDb: a public list (`ls…`) or a public watchlist (`ur…`) through its CSV export.

The export's columns (by name, so older and newer layouts both read): `Const` (the title
id), `Title`, `Year`, `Title Type` ("movie", "tvSeries", "TV Mini Series"…) and
`Release Date`. A private list answers IMDb's sign-in page, reported as such.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Final
from urllib.parse import urlsplit

from cacherr.config.models import ListsConfig
from cacherr.sources.lists.http import Body, Fetcher
from cacherr.sources.lists.model import (
    ExternalIds,
    FetchResult,
    Kind,
    ListEntry,
    ListFetchError,
    imdb_id,
    parse_date,
    year_of,
)

_LIST = re.compile(r"(?:^|/)(ls\d+)(?:/|$)")
_USER = re.compile(r"(?:^|/)(ur\d+)(?:/|$)")
_MOVIE_TYPES: Final = frozenset({"movie", "tvmovie", "short", "video", "tvspecial", "tvshort"})
_SHOW_TYPES: Final = frozenset({"tvseries", "tvminiseries"})


def parse_source(source: str) -> str:
    """The export path of an IMDb source (`ls…`, `ur…` or an imdb.com address)."""
    text = source.strip()
    if text.startswith(("http://", "https://")):
        text = urlsplit(text).path
    text = text.strip("/")
    found = _LIST.search(text)
    if found:
        return f"/list/{found.group(1)}/export"
    found = _USER.search(text)
    if found:
        return f"/user/{found.group(1)}/watchlist/export"
    raise ValueError("an IMDb source is a list id (ls…), a user id (ur…) or its imdb.com address")


def title_kind(text: str) -> Kind | None:
    """`movie`/`show` from the export's Title Type; None for episodes and the rest."""
    key = text.replace(" ", "").replace("-", "").lower()
    if key in _MOVIE_TYPES:
        return "movie"
    if key in _SHOW_TYPES:
        return "show"
    return None


def parse_export(body: Body, what: str) -> FetchResult:
    """The rows of an IMDb CSV export, in list order."""
    if body.looks_like_html():
        raise ListFetchError(f"{what} answered an HTML page (the list may be private)")
    text = body.text
    if body.truncated:
        text = text[: text.rfind("\n") + 1]  # drop the row the size cap cut in two
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    try:
        fields = reader.fieldnames or []
        if "Const" not in fields:
            raise ListFetchError(f"{what} is not an IMDb export (no 'Const' column)")
        entries = []
        for row in reader:
            tt = imdb_id(row.get("Const"))
            if tt is None:
                continue
            kind = title_kind(row.get("Title Type") or "")
            if kind is None and (row.get("Title Type") or "").strip():
                continue  # an episode, a game, a person…: nothing to cache
            entries.append(ListEntry(kind, row.get("Title") or "", year_of(row.get("Year")),
                                     ExternalIds(imdb=tt),
                                     parse_date(row.get("Release Date"))))  # fmt: skip
    except csv.Error as exc:
        raise ListFetchError(f"{what} is malformed CSV ({exc})") from None
    return FetchResult(entries, body.truncated)


async def fetch(fetcher: Fetcher, config: ListsConfig, source: str, cap: int) -> FetchResult:
    """Read an IMDb list or watchlist export, at most `cap` entries."""
    path = parse_source(source)
    what = f"IMDb ({path.split('/')[2]})"
    body = await fetcher.get(config.imdb_url.rstrip("/") + path, what=what,
                             headers={"Accept": "text/csv"}, partial_ok=True)  # fmt: skip
    result = parse_export(body, what)
    return FetchResult(result.entries[:cap], result.truncated or len(result.entries) > cap)
