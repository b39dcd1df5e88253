"""The planner's in-memory picture: claims by file, managed files, and the eviction order.

Built once from the store (`Index.build`) and kept current by the caller as claims and
files change, so that a reaction plans a handful of paths without reading the whole
library. The eviction order is a sorted list — unclaimed files first (oldest release
first), then claimed files by their *static* priority (stored part + several-users bonus,
without recency). Recency only adds to a priority (0 <= R <= 20), so the exact order by
priority at any `now` comes out of a lazy merge: a file is yielded once no file further
down the static order can have a lower priority. Pinned files are not in the order at all.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace

from cacherr.claims.model import Claim, ManagedFile
from cacherr.claims.priority import file_priority, users_bonus

_UNCLAIMED = 0
_CLAIMED = 1
OrderKey = tuple[int, float, str]


@dataclass(frozen=True, slots=True)
class Candidate:
    """A managed file in eviction order, with its priority (None when no claim is live)."""

    file: ManagedFile
    priority: float | None


def _static_priority(claims: tuple[Claim, ...]) -> float:
    people = {c.user_id for c in claims if c.personal}
    return max(c.priority for c in claims) + users_bonus(len(people))


class Index:
    """Claims and managed files by plex path, with the eviction order kept sorted."""

    def __init__(self) -> None:
        self._claims: dict[str, tuple[Claim, ...]] = {}
        self._managed: dict[str, ManagedFile] = {}
        self._order: list[OrderKey] = []
        self._keys: dict[str, OrderKey] = {}

    @classmethod
    def build(cls, claims: Iterable[Claim], managed: Iterable[ManagedFile]) -> Index:
        """An index of everything (one sort; later changes are incremental)."""
        index = cls()
        grouped: dict[str, list[Claim]] = {}
        for claim in claims:
            grouped.setdefault(claim.plex_path, []).append(claim)
        index._claims = {p: tuple(cs) for p, cs in grouped.items()}
        index._managed = {f.plex_path: f for f in managed}
        for path in index._managed:
            key = index._key(path)
            if key is not None:
                index._keys[path] = key
        index._order = sorted(index._keys.values())
        return index

    # --- changes ------------------------------------------------------------------------

    def update_claims(self, by_path: Mapping[str, Iterable[Claim]], *, now: float) -> None:
        """Replace the claims of each path (an empty iterable: the path has none left).

        Mirrors the store: a managed file losing its last claim is released at `now`, one
        claimed again is no longer released. From here on the claims say whether the file is
        pinned (the `pinned` flag read with the managed files at `build` may be stale).
        """
        for path, claims in by_path.items():
            group = tuple(claims)
            if group:
                self._claims[path] = group
            else:
                self._claims.pop(path, None)
            managed = self._managed.get(path)
            if managed is not None:
                released_at = managed.released_at
                if group and released_at is not None:
                    released_at = None
                elif not group and released_at is None:
                    released_at = now
                pinned = any(c.source == "pinned" for c in group)
                if (released_at, pinned) != (managed.released_at, managed.pinned):
                    self._managed[path] = replace(managed, released_at=released_at, pinned=pinned)
            self._reorder(path)

    def put_managed(self, file: ManagedFile) -> None:
        """Add or refresh a managed file (a copy started or finished)."""
        self._managed[file.plex_path] = file
        self._reorder(file.plex_path)

    def drop_managed(self, plex_path: str) -> None:
        """Forget a managed file (it went back to the array)."""
        self._managed.pop(plex_path, None)
        self._reorder(plex_path)

    def _key(self, path: str) -> OrderKey | None:
        managed = self._managed.get(path)
        if managed is None or self.pinned(path):
            return None
        claims = self._claims.get(path)
        if not claims:
            return (_UNCLAIMED, managed.released_since, path)
        return (_CLAIMED, _static_priority(claims), path)

    def _reorder(self, path: str) -> None:
        old = self._keys.pop(path, None)
        if old is not None:
            del self._order[bisect.bisect_left(self._order, old)]
        new = self._key(path)
        if new is not None:
            self._keys[path] = new
            bisect.insort(self._order, new)

    # --- reads --------------------------------------------------------------------------

    def claims(self, plex_path: str) -> tuple[Claim, ...]:
        """The claims of one file (live or not)."""
        return self._claims.get(plex_path, ())

    def managed(self, plex_path: str) -> ManagedFile | None:
        """The managed file at this path, if any."""
        return self._managed.get(plex_path)

    @property
    def managed_files(self) -> Mapping[str, ManagedFile]:
        """Every managed file by path."""
        return self._managed

    @property
    def claimed_paths(self) -> Iterable[str]:
        """Every path with at least one claim."""
        return self._claims.keys()

    def pinned(self, plex_path: str) -> bool:
        """Whether a pin holds this file (such a file is never evicted)."""
        managed = self._managed.get(plex_path)
        if managed is not None and managed.pinned:
            return True
        return any(c.source == "pinned" for c in self._claims.get(plex_path, ()))

    def priority(self, plex_path: str, now: float) -> float | None:
        """The file's priority at `now` (None when no claim is live)."""
        return file_priority(self._claims.get(plex_path, ()), now)

    def eviction_order(self, now: float) -> Iterator[Candidate]:
        """Managed, unpinned files from the first to leave to the last, exactly by priority.

        Unclaimed files come first (oldest release first), then claimed files by ascending
        priority at `now`; a file whose claims have all expired counts as unclaimed but
        comes when its static rank is reached. Lazy: stop iterating when you have enough.
        """
        waiting: list[tuple[float, str]] = []
        for tier, key, path in self._order:
            file = self._managed[path]
            if tier == _UNCLAIMED:
                yield Candidate(file, None)
                continue
            # Everything still below in the static order has a priority >= key.
            while waiting and waiting[0][0] <= key:
                value, done = heapq.heappop(waiting)
                yield Candidate(self._managed[done], value)
            value_now = self.priority(path, now)
            if value_now is None:
                yield Candidate(file, None)
            else:
                heapq.heappush(waiting, (value_now, path))
        while waiting:
            value, done = heapq.heappop(waiting)
            yield Candidate(self._managed[done], value)

    def returns_due(self, retention_s: float) -> Iterator[tuple[float, str]]:
        """(time it goes back, path) of each file that goes back once its retention is over,
        by the planner's rule: no claim without an end holds it, it is neither pinned nor
        being copied; its retention starts at its release or its claims' last expiry."""
        for path, managed in self._managed.items():
            if managed.in_flight or self.pinned(path):
                continue
            claims = self._claims.get(path, ())
            expiries = [c.expires_at for c in claims if c.expires_at is not None]
            if len(expiries) < len(claims):
                continue  # a claim without an end holds it
            yield max([managed.released_since, *expiries]) + retention_s, path
