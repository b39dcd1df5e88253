"""A list's URL as it may be shown: in the API, the page, the activity feed and the log.

Custom lists and RSS feeds often carry their credential in the URL itself: a user and
password (`http://user:pass@host/list`), a key in the query (`?apikey=…`) or a token as a
path segment (Plex's watchlist feeds are `https://rss.plex.tv/<uuid>`). Each is replaced by
`…`; the scheme, the host and the plain words of the path stay, so the user still knows
which list it is.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import urlsplit, urlunsplit

HIDDEN: Final = "…"
# A run of 12+ letters and digits that mixes both, or 16+ hex digits: a token, a key, a
# UUID's last group. Words ("watchlist", "my-list-2024.csv") are kept.
_TOKEN_RUN = re.compile(
    r"(?=[A-Za-z0-9]*\d)(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{12,}|[0-9a-fA-F]{16,}"
)
_SECRET_WORDS = ("token", "key", "secret", "password", "auth", "sig")


def _segment(segment: str) -> str:
    lowered = segment.lower()
    if _TOKEN_RUN.search(segment) or ("=" in segment and any(w in lowered for w in _SECRET_WORDS)):
        return HIDDEN
    return segment


def masked_url(url: str) -> str:
    """`url` with its user part, query, fragment and token-like path segments hidden."""
    host = url_host(url)  # first: it also refuses what urlsplit cannot parse
    if host == HIDDEN:
        return HIDDEN if url.strip() else ""
    parts = urlsplit(url.strip())
    netloc = (f"{HIDDEN}@" if "@" in parts.netloc else "") + host
    path = "/".join(_segment(s) for s in parts.path.split("/"))
    query = HIDDEN if parts.query else ""
    return urlunsplit((parts.scheme, netloc, path, query, ""))


def url_host(url: str) -> str:
    """The host (and port) of `url` alone, for naming a list in a message; `…` if none."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return HIDDEN
    if not parts.hostname:
        return HIDDEN
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    return f"{host}:{port}" if port is not None else host


def shown_source(provider: str, source: str) -> str:
    """A list's source as shown: a feed or custom URL masked, other providers' ids as they are."""
    return masked_url(source) if provider in ("rss", "url") else source
