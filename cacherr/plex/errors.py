"""The Plex error family: what plexapi and requests raise, in Cacherr's own terms.

Every class is both a `PlexError` (catch all of Plex's troubles) and one of the general
`CacherrError`s, so the API edge maps it to the right HTTP answer. Messages never carry a
token or a secret URL.
"""

from __future__ import annotations

from typing import Literal

from cacherr.errors import BadRequest, CacherrError, NotFound, TooManyRequests, Unauthorized
from cacherr.errors import Unavailable as _Unavailable

Lane = Literal["pms", "plextv"]


class PlexError(CacherrError):
    """Base of every Plex trouble; `lane` says whether the server or plex.tv answered."""

    lane: Lane = "pms"

    def __init__(self, message: str, *, lane: Lane = "pms") -> None:
        super().__init__(message)
        self.lane = lane


class PlexUnavailable(PlexError, _Unavailable):
    """No answer (connection refused, timeout, 5xx) after every retry, or Plex is down."""


class PlexNotConfigured(PlexUnavailable):
    """No Plex address or token in the settings."""


class PlexRateLimited(PlexError, TooManyRequests):
    """Still 429 after every retry; `retry_after_s` is the last wait Plex asked for."""

    def __init__(self, message: str, *, lane: Lane = "pms", retry_after_s: float = 0.0) -> None:
        super().__init__(message, lane=lane)
        self.retry_after_s = retry_after_s


class PlexUnauthorized(PlexError, Unauthorized):
    """A token was refused (401): drop it and fetch it again."""


class PlexNotFound(PlexError, NotFound):
    """The item, section or user does not exist (or is not visible to this token)."""


class PlexBadAnswer(PlexError, BadRequest):
    """Plex answered something Cacherr cannot use (another 4xx, or unparsable data)."""


def refusal(status: int | str, *, lane: Lane = "pms") -> PlexError:
    """The error for an answer Plex refused with `status` (401, 404, another 4xx)."""
    if str(status) == "401":
        return PlexUnauthorized("Plex refused the token (401)", lane=lane)
    if str(status) == "404":
        return PlexNotFound("Plex does not know this item (404)", lane=lane)
    return PlexBadAnswer(f"Plex answered {status}", lane=lane)


def unusable(exc: Exception, *, lane: Lane = "pms") -> PlexBadAnswer:
    """The error for an answer that is not XML Cacherr can read."""
    return PlexBadAnswer(f"unusable answer from Plex ({type(exc).__name__})", lane=lane)
