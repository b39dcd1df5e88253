"""RSS/Atom feeds and custom URLs (JSON or CSV) whose items carry IMDb, TMDb or TVDB ids.

A feed item's ids are read from its link, guid/id and any `*imdb*`/`*tmdb*`/`*tvdb*`
element: `tt1375666`, `themoviedb.org/movie/27205`, `themoviedb.org/tv/1399`,
`thetvdb.com/?tab=series&id=81189`, `tmdb://…`, `tvdb://…`. A JSON list holds objects
(`imdb_id`, `tmdb_id`, `tvdb_id`, optionally `title`, `year`, `type`) or bare ids; a CSV
either names those columns in a header or holds one id per line.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable
from typing import Any, Final
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

from cacherr.sources.lists.http import Body, Fetcher
from cacherr.sources.lists.masking import url_host
from cacherr.sources.lists.model import (
    ExternalIds,
    FetchResult,
    Kind,
    ListEntry,
    ListFetchError,
    imdb_id,
    parse_date,
    positive_int,
    year_of,
)

_IMDB = re.compile(r"\b(tt\d{5,10})\b")
_TMDB = re.compile(r"(?:themoviedb\.org/(movie|tv)/|tmdb(?:://|:|/))(\d+)", re.IGNORECASE)
_TVDB = re.compile(
    r"(?:thetvdb\.com/(?:\?tab=series&(?:amp;)?id=|(?:dereferrer/)?series/)|tvdb(?:://|:|/))"
    r"(\d+)",
    re.IGNORECASE,
)
_TITLE_YEAR = re.compile(r"^(.*?)\s*\((\d{4})\)\s*$")
_ID_TAGS: Final = ("imdb", "tmdb", "tvdb")
_KEYS: Final = {
    "imdb": ("imdb_id", "imdbId", "imdb", "Const"),
    "tmdb": ("tmdb_id", "tmdbId", "tmdb", "id"),
    "tvdb": ("tvdb_id", "tvdbId", "tvdb"),
}


def check_url(source: str) -> str:
    """The source as an http(s) address, or ValueError."""
    parts = urlsplit(source.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("an RSS or custom list source is an http:// or https:// address")
    return source.strip()


def ids_in(texts: Iterable[str]) -> tuple[ExternalIds, Kind | None]:
    """The first IMDb, TMDb and TVDB ids found in `texts`, and the kind they imply."""
    imdb: str | None = None
    tmdb: int | None = None
    tvdb: int | None = None
    kind: Kind | None = None
    for text in texts:
        if imdb is None and (m := _IMDB.search(text)):
            imdb = m.group(1)
        if tmdb is None and (m := _TMDB.search(text)):
            tmdb = int(m.group(2))
            if m.group(1):
                kind = "movie" if m.group(1).lower() == "movie" else "show"
        if tvdb is None and (m := _TVDB.search(text)):
            tvdb = int(m.group(1))
            kind = kind or "show"
    return ExternalIds(imdb, tmdb, tvdb), kind


def _title_year(text: str) -> tuple[str, int | None]:
    m = _TITLE_YEAR.match(text.strip())
    return (m.group(1), int(m.group(2))) if m else (text.strip(), None)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].lower()


def parse_feed(text: str, what: str) -> list[ListEntry]:
    """Entries of an RSS 2.0 or Atom feed, in feed order (items without an id are skipped)."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ListFetchError(f"{what} is malformed XML ({exc})") from None
    entries = []
    for item in root.iter():
        if _local(item.tag) not in ("item", "entry"):
            continue
        texts: list[str] = []
        title, released = "", None
        for child in item:
            name = _local(child.tag)
            value = (child.text or "").strip()
            if name == "title":
                title = value
            elif name in ("link", "guid", "id") or any(t in name for t in _ID_TAGS):
                texts += [value, child.get("href", "")]
            elif name in ("released", "release_date"):
                released = parse_date(value)
        ids, kind = ids_in(texts)
        if ids:
            name, year = _title_year(title)
            entries.append(ListEntry(kind, name, year, ids, released))
    return entries


def _entry_from_json(row: Any) -> ListEntry | None:
    if isinstance(row, str | int) and not isinstance(row, bool):
        if isinstance(row, int) or row.isdigit():
            return ListEntry(None, "", None, ExternalIds(tmdb=positive_int(row)))
        found_ids, found_kind = ids_in([row])
        return ListEntry(found_kind, "", None, found_ids) if found_ids else None
    if not isinstance(row, dict):
        return None
    source = row["ids"] if isinstance(row.get("ids"), dict) else row
    found = {scheme: next((source[k] for k in keys if source.get(k)), None)
             for scheme, keys in _KEYS.items()}  # fmt: skip
    ids = ExternalIds(imdb_id(found["imdb"]), positive_int(found["tmdb"]),
                      positive_int(found["tvdb"]))  # fmt: skip
    if not ids:
        return None
    raw_kind = str(row.get("type") or row.get("media_type") or row.get("kind") or "").lower()
    kind: Kind | None = ("movie" if raw_kind == "movie"
                         else "show" if raw_kind in ("show", "tv", "series") else None)  # fmt: skip
    if kind is None and ids.tvdb and not ids.tmdb and not ids.imdb:
        kind = "show"
    title = row.get("title") or row.get("name") or ""
    released = parse_date(row.get("release_date") or row.get("released")
                          or row.get("first_air_date"))  # fmt: skip
    year = year_of(row.get("year")) or (released.year if released else None)
    return ListEntry(kind, str(title), year, ids, released)


def parse_json_list(text: str, what: str) -> list[ListEntry]:
    """Entries of a JSON list (or of an object's `items`/`results`/`movies`/`shows`)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ListFetchError(f"{what} is malformed JSON (line {exc.lineno})") from None
    if isinstance(data, dict):
        data = next((data[k] for k in ("items", "results", "movies", "shows")
                     if isinstance(data.get(k), list)), None)  # fmt: skip
    if not isinstance(data, list):
        raise ListFetchError(f"{what} is JSON but not a list of titles or ids")
    return [e for e in (_entry_from_json(row) for row in data) if e is not None]


def parse_csv_list(text: str, what: str) -> list[ListEntry]:
    """Entries of a CSV with an id header (imdb_id, tmdb_id, tvdb_id, Const) or one id a line."""
    try:
        rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    except csv.Error as exc:
        raise ListFetchError(f"{what} is malformed CSV ({exc})") from None
    if not rows:
        return []
    header = [cell.strip() for cell in rows[0]]
    known = {k for keys in _KEYS.values() for k in keys}
    if known & set(header):
        out = []
        for cells in rows[1:]:
            entry = _entry_from_json(dict(zip(header, (c.strip() for c in cells), strict=False)))
            if entry is not None:
                out.append(entry)
        return out
    entries = []
    for cells in rows:
        ids, kind = ids_in(cells)
        if ids:
            entries.append(ListEntry(kind, "", None, ids))
        elif any(cell.strip() for cell in cells):
            raise ListFetchError(f"{what} is neither a list of ids nor a CSV with id columns")
    return entries


def parse_any(body: Body, what: str) -> FetchResult:
    """Sniff the body (HTML, XML feed, JSON or CSV) and read it."""
    if body.looks_like_html():
        raise ListFetchError(f"{what} answered an HTML page, not a feed or a list")
    text = body.text.lstrip("\ufeff \t\r\n")
    if text.startswith("<"):
        kind, parse = "feed", parse_feed
    elif text.startswith(("[", "{")):
        kind, parse = "JSON", parse_json_list
    else:
        if body.truncated:
            text = text[: text.rfind("\n") + 1]
        return FetchResult(parse_csv_list(text, what), body.truncated)
    if body.truncated:
        raise ListFetchError(f"{what} ({kind}) is larger than the size cap; not read")
    return FetchResult(parse(text, what))


async def fetch(fetcher: Fetcher, source: str, cap: int, *, provider: str) -> FetchResult:
    """Read a feed or custom list at `source`, at most `cap` entries."""
    url = check_url(source)
    what = f"{'RSS feed' if provider == 'rss' else 'custom list'} ({url_host(url)})"
    body = await fetcher.get(url, what=what, partial_ok=True)
    result = parse_any(body, what)
    return FetchResult(result.entries[:cap], result.truncated or len(result.entries) > cap)
