"""What the planner reads besides claims (the space picture) and what it answers (a `Plan`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cacherr.config.models import CacheConfig, parse_size

ActionKind = Literal["cache", "restore", "evict"]


@dataclass(frozen=True)
class Space:
    """The pool and Cacherr's budget on it, in bytes, at plan time.

    `used_bytes` is everything Cacherr manages on the pool (copies in flight included).
    New copies fill up to `threshold_bytes`; when usage is past it, files leave (unclaimed
    first, then the lowest priority) until usage is down to `target_bytes`. Caching stops
    at the threshold rather than the limit so that what eviction frees is not refilled and
    evicted again by the next plan.
    """

    total_bytes: int
    free_bytes: int
    used_bytes: int
    limit_bytes: int
    min_free_bytes: int
    evict_threshold_pct: int = 95
    evict_target_pct: int = 85

    @classmethod
    def from_config(
        cls, cache: CacheConfig, *, total_bytes: int, free_bytes: int, used_bytes: int
    ) -> Space:
        """Resolve `cache.limit` and `cache.min_free` (bytes or % of the pool)."""
        return cls(
            total_bytes=total_bytes,
            free_bytes=free_bytes,
            used_bytes=used_bytes,
            limit_bytes=parse_size(cache.limit, total_bytes),
            min_free_bytes=parse_size(cache.min_free, total_bytes),
            evict_threshold_pct=cache.evict_threshold,
            evict_target_pct=cache.evict_target,
        )

    @property
    def threshold_bytes(self) -> int:
        """Usage past which files are evicted (and up to which new copies may fill)."""
        return self.limit_bytes * self.evict_threshold_pct // 100

    @property
    def target_bytes(self) -> int:
        """Usage eviction brings the cache down to."""
        return self.limit_bytes * self.evict_target_pct // 100


@dataclass(frozen=True, slots=True)
class Action:
    """One step of a plan: copy a file to the cache, or send one back to the array.

    `restore` is the regular way back (retention over); `evict` sends a file back early to
    make room. `priority` is the file's priority, None for a file no one claims.
    """

    kind: ActionKind
    plex_path: str
    size_bytes: int
    priority: float | None
    reason: str


@dataclass(frozen=True, slots=True)
class Unfit:
    """A claimed file the plan could not make room for, and by how many bytes it fell short."""

    plex_path: str
    size_bytes: int
    priority: float
    reason: str
    missing_bytes: int


@dataclass(frozen=True, slots=True)
class Dropped:
    """A claimed file that cannot be planned at all (its claims should be released)."""

    plex_path: str
    reason: str
    sources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Held:
    """A file that would go back now but stays, and why (e.g. it is being played)."""

    plex_path: str
    reason: str


@dataclass(frozen=True)
class Plan:
    """Ordered actions (every eviction before the copy it makes room for) and what was left.

    `used_bytes` / `free_bytes` are the picture once every action has run.
    """

    actions: tuple[Action, ...] = ()
    unfit: tuple[Unfit, ...] = ()
    dropped: tuple[Dropped, ...] = ()
    held: tuple[Held, ...] = ()
    used_bytes: int = 0
    free_bytes: int = 0

    def of_kind(self, kind: ActionKind) -> list[Action]:
        """The actions of one kind, in plan order."""
        return [a for a in self.actions if a.kind == kind]


@dataclass(frozen=True)
class EvictionPreview:
    """What would go back to make room for a file: the files, what they free, what is missing."""

    files: tuple[Action, ...]
    freed_bytes: int
    missing_bytes: int

    @property
    def fits(self) -> bool:
        """Whether the file would fit once these files are gone."""
        return self.missing_bytes == 0
