"""Claims against the space picture → an ordered `Plan`. Pure: no I/O, no clock of its own.

Order of a plan: files whose retention is over go back (`restore`); if usage is past the
eviction threshold, files leave (`evict`: unclaimed first, then the lowest priority) down
to the target; then claimed files not yet on the cache are copied (`cache`) by priority —
within one user's window on a show in episode order, the next episode before the one
playing — each preceded by the evictions that make room for it. A file only ever leaves for
a file of strictly higher priority; pinned files and files in an active session never
leave; a file that cannot be made room for is reported `unfit` with the bytes missing,
and a claimed file without a size (gone from disk) is `dropped`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass

from cacherr.claims.model import Claim, ManagedFile
from cacherr.planner.index import Candidate, Index
from cacherr.planner.model import Action, Dropped, EvictionPreview, Held, Plan, Space, Unfit
from cacherr.planner.sequence import Pending, sequence
from cacherr.planner.text import gigabytes, name

FILE_GONE = "file no longer exists"


def plan(
    claims: Iterable[Claim],
    managed: Iterable[ManagedFile],
    *,
    sizes: Mapping[str, int],
    space: Space,
    active: Collection[str],
    now: float,
    retention_hours: float,
) -> Plan:
    """Plan everything (the sweep): every claimed file and every managed file."""
    index = Index.build(claims, managed)
    return plan_all(
        index, sizes=sizes, space=space, active=active, now=now, retention_hours=retention_hours
    )


def plan_all(
    index: Index,
    *,
    sizes: Mapping[str, int],
    space: Space,
    active: Collection[str],
    now: float,
    retention_hours: float,
) -> Plan:
    """Plan every claimed and every managed file of an index."""
    paths = dict.fromkeys([*index.claimed_paths, *index.managed_files])
    return plan_paths(
        index,
        paths,
        sizes=sizes,
        space=space,
        active=active,
        now=now,
        retention_hours=retention_hours,
    )


def plan_paths(
    index: Index,
    paths: Iterable[str],
    *,
    sizes: Mapping[str, int],
    space: Space,
    active: Collection[str],
    now: float,
    retention_hours: float,
) -> Plan:
    """Plan only `paths` (a reaction: the touched show's files) against the whole picture.

    Copies and restores are decided for `paths` alone; room is made from any managed file,
    reading the eviction order lazily, so the cost follows the paths, not the library.
    `sizes` gives the size of each claimed file not yet cached (missing: the file is gone).
    """
    retention_s = retention_hours * 3600.0
    actions: list[Action] = []
    dropped: list[Dropped] = []
    held: list[Held] = []
    pending: list[Pending] = []
    leaving: set[str] = set()
    used, free = space.used_bytes, space.free_bytes

    for path in dict.fromkeys(paths):
        claims = index.claims(path)
        live = tuple(c for c in claims if not c.expired(now))
        managed = index.managed(path)
        if live:
            if managed is not None:
                continue
            size = sizes.get(path)
            if size is None:
                dropped.append(Dropped(path, FILE_GONE, tuple(sorted({c.source for c in live}))))
                continue
            priority = index.priority(path, now)
            assert priority is not None
            pending.append(Pending(path, size, priority, live))
            continue
        if managed is None or managed.in_flight or index.pinned(path):
            continue
        expiries = [c.expires_at for c in claims if c.expires_at is not None]
        since = max([managed.released_since, *expiries]) if expiries else managed.released_since
        if now - since < retention_s:
            continue
        if path in active:
            held.append(Held(path, "retention is over but it is being played: goes back after"))
            continue
        hours = (now - since) / 3600.0
        actions.append(
            Action(
                "restore",
                path,
                managed.size_bytes,
                None,
                f"no claim for {hours:.1f} h (retention {retention_hours:g} h)",
            )
        )
        leaving.add(path)
        used -= managed.size_bytes
        free += managed.size_bytes

    stream = _Stream(index, now, active, leaving)
    if used > space.threshold_bytes:
        over = used * 100 // max(space.limit_bytes, 1)
        want = used - space.target_bytes
        chosen, _ = stream.take(below=None, want=want, need=used - space.threshold_bytes)
        if chosen is None:  # cannot get under the threshold: send back all that may go
            chosen, _ = stream.take(below=None, want=want, need=0)
        for cand in chosen or ():
            why = f"usage {over}% of the limit is past the {space.evict_threshold_pct}% threshold"
            actions.append(_evict(cand, now, why))
            used -= cand.file.size_bytes
            free += cand.file.size_bytes

    unfit: list[Unfit] = []
    for item in sequence(pending):
        room = min(space.threshold_bytes - used, free - space.min_free_bytes)
        if item.size_bytes > room:
            need, want = _shortfall(space, used, free, item.size_bytes)
            chosen, freed = stream.take(below=item.priority, want=want, need=need)
            if chosen is None:
                unfit.append(_unfit(item, space, used, need, freed))
                continue
            for cand in chosen:
                why = f"making room for {name(item.plex_path)} (priority {item.priority:.1f})"
                actions.append(_evict(cand, now, why))
                used -= cand.file.size_bytes
                free += cand.file.size_bytes
        actions.append(
            Action("cache", item.plex_path, item.size_bytes, item.priority, _cache_reason(item))
        )
        used += item.size_bytes
        free -= item.size_bytes

    return Plan(tuple(actions), tuple(unfit), tuple(dropped), tuple(held), used, free)


def simulate_eviction(
    index: Index,
    size_bytes: int,
    priority: float,
    *,
    space: Space,
    active: Collection[str],
    now: float,
) -> EvictionPreview:
    """What would go back to make room for `size_bytes` at `priority`, as a plan would do it.

    Nothing when it already fits; otherwise files of lower priority (unclaimed first) until
    usage is down to the target, at least enough to fit. `missing_bytes` > 0: it would not fit.
    """
    used, free = space.used_bytes, space.free_bytes
    room = min(space.threshold_bytes - used, free - space.min_free_bytes)
    if size_bytes <= room:
        return EvictionPreview((), 0, 0)
    need, want = _shortfall(space, used, free, size_bytes)
    chosen, freed = _Stream(index, now, active, set()).take(below=priority, want=want, need=need)
    if chosen is None:
        return EvictionPreview((), 0, need - freed)
    why = f"making room for {gigabytes(size_bytes)} at priority {priority:.1f}"
    return EvictionPreview(tuple(_evict(c, now, why) for c in chosen), freed, 0)


@dataclass
class _Stream:
    """The eviction order, read once per plan: what one copy could not use stays for the next."""

    index: Index
    now: float
    active: Collection[str]
    leaving: Collection[str]

    def __post_init__(self) -> None:
        self._source = self.index.eviction_order(self.now)
        self._buffer: list[Candidate] = []
        self._head = 0

    def _walk(self) -> Iterator[Candidate]:
        at = self._head
        while True:
            if at < len(self._buffer):
                yield self._buffer[at]
                at += 1
                continue
            cand = next(self._source, None)
            if cand is None:
                return
            file = cand.file
            if file.in_flight or file.plex_path in self.active or file.plex_path in self.leaving:
                continue
            self._buffer.append(cand)

    def take(
        self, *, below: float | None, want: int, need: int
    ) -> tuple[list[Candidate] | None, int]:
        """The next files in order (priority < `below`) freeing `need` bytes, then more
        while that stays within `want`; taken only if they free at least `need`, otherwise
        nothing is taken and the answer is (None, what they would have freed).
        """
        chosen: list[Candidate] = []
        freed = 0
        for cand in self._walk():
            if freed >= want:
                break
            if below is not None and cand.priority is not None and cand.priority >= below:
                break
            # Past what is needed, go on towards the target but never below it: one big
            # file must not leave only to make the usage rounder.
            if freed >= need and freed + cand.file.size_bytes > want:
                break
            chosen.append(cand)
            freed += cand.file.size_bytes
        if freed < need:
            return None, freed
        self._head += len(chosen)
        return chosen, freed


def _shortfall(space: Space, used: int, free: int, size_bytes: int) -> tuple[int, int]:
    """Bytes that must leave for a copy to fit, and how many to free (down to the target)."""
    need = max(
        used + size_bytes - space.threshold_bytes,
        space.min_free_bytes - (free - size_bytes),
    )
    return need, max(used + size_bytes - space.target_bytes, need)


def _evict(cand: Candidate, now: float, why: str) -> Action:
    file = cand.file
    if cand.priority is None:
        hours = max(now - file.released_since, 0.0) / 3600.0
        who = f"unclaimed for {hours:.1f} h"
    else:
        who = f"lowest priority {cand.priority:.1f}"
    return Action("evict", file.plex_path, file.size_bytes, cand.priority, f"{who}; {why}")


def _cache_reason(item: Pending) -> str:
    top = max(item.claims, key=lambda c: (c.priority, c.source, c.user_id))
    reason = top.reason or f"{top.source} for {top.user_id or 'everyone'}"
    people = {c.user_id for c in item.claims if c.personal} - {top.user_id}
    if people:
        reason += f" (also wanted by {len(people)} other user{'s' if len(people) > 1 else ''})"
    return reason


def _unfit(item: Pending, space: Space, used: int, need: int, freed: int) -> Unfit:
    reason = (
        f"needs {gigabytes(item.size_bytes)}; {gigabytes(need - freed)} short: files of lower "
        f"priority free only {gigabytes(freed)} (Cacherr uses {gigabytes(used)} of "
        f"{gigabytes(space.threshold_bytes)} up to the eviction threshold)"
    )
    return Unfit(item.plex_path, item.size_bytes, item.priority, reason, need - freed)
