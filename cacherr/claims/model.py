"""The claims vocabulary: sources, one claim, one pin and what the planner knows of a managed file.

A claim says "this file should be on the cache" on behalf of a holder: a Plex user for the
personal sources, the list for `list` claims and the pin for `pinned` claims (`pin:<key>`,
so unpinning releases exactly that pin's files and a file pinned twice stays until both go).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, get_args

Source = Literal["playing", "next_up", "ondeck", "watchlist", "list", "pinned", "manual"]
SOURCES: Final[tuple[Source, ...]] = get_args(Source)
UserKind = Literal["main", "home", "shared"]
PinKind = Literal["movie", "show", "season", "episode"]

# Sources held by a person: only these count towards "several users want this file".
PERSONAL_SOURCES: Final[frozenset[str]] = frozenset(
    {"playing", "next_up", "ondeck", "watchlist", "manual"}
)
PIN_HOLDER_PREFIX: Final = "pin:"


def pin_holder(rating_key: str) -> str:
    """The `user_id` under which a pin's claims are stored."""
    return f"{PIN_HOLDER_PREFIX}{rating_key}"


@dataclass(frozen=True, slots=True)
class Claim:
    """One row of `claims`: `plex_path` should be on the cache for `source`/`user_id`.

    `priority` is the stored part of the priority (see `cacherr.claims.priority`); the
    planner adds recency and the several-users bonus at plan time. `created_at` is when the
    claim first appeared (an upsert keeps it); `expires_at`, when set, ends the claim.
    """

    plex_path: str
    source: Source
    user_id: str = ""
    priority: float = 0.0
    reason: str = ""
    created_at: float = 0.0
    expires_at: float | None = None
    rating_key: str | None = None
    show_key: str | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        """What makes a claim unique: (plex_path, source, user_id)."""
        return (self.plex_path, self.source, self.user_id)

    @property
    def personal(self) -> bool:
        """Whether a person holds it (counted by the several-users bonus)."""
        return self.source in PERSONAL_SOURCES and self.user_id != ""

    def expired(self, now: float) -> bool:
        """Whether the claim has ended by `now`."""
        return self.expires_at is not None and self.expires_at <= now


@dataclass(frozen=True, slots=True)
class Pin:
    """One row of `pins`: a movie, show, season or episode kept on the cache for good."""

    rating_key: str
    kind: PinKind
    title: str
    created_at: float

    @property
    def holder(self) -> str:
        """The `user_id` of this pin's `pinned` claims."""
        return pin_holder(self.rating_key)


@dataclass(frozen=True, slots=True)
class ManagedFile:
    """What the planner needs of a file Cacherr has on the cache (a `managed_files` row).

    `size_bytes` includes the sidecars that travel with it; `in_flight` is a copy still
    running (it counts in the budget but cannot be evicted yet); `released_at` is when its
    last claim went away (None while claimed, or never claimed: then `cached_at` counts).
    """

    plex_path: str
    size_bytes: int
    cached_at: float
    released_at: float | None = None
    rating_key: str | None = None
    pinned: bool = False
    in_flight: bool = False

    @property
    def released_since(self) -> float:
        """Start of its retention when nothing claims it."""
        return self.released_at if self.released_at is not None else self.cached_at
