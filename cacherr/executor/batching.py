"""Which queued copies start together as one batch (`files.batch`), and how many.

A small file's copy costs its journal commits and fsyncs more than its bytes, so the copies
of small files that come next in the fair order start together: one slot of
`cache.copy_concurrency` and of `cache.copies_per_disk`, one commit per step for all. Only
copies whose size the planner gave and that are small join a batch, only from the same array
disk, and a batch takes a run of the fair order as it is: it ends at the first operation that
cannot join (a big copy, a restore), which starts on its own as before. So a big file never
waits behind more small ones than the fair order put before it, and a batch's bytes are
bounded (`BATCH_BYTES`), so no slot is held long.

A batch's files are all complete only when its last one is. So when the copies of one level
outnumber what one slot should take, they are shared between the slots that may copy side
by side (`share`): forty first next episodes go as two batches of twenty, one in each slot,
not one of thirty-two while the other slot waits. The part left for a slot still busy goes
back to the queue, in its place, and starts there when the slot is free. Fewer copies than
`MIN_SHARE` for each slot are not shared: each batch pays its commits and fsyncs again.

A batch also stays within one level of the fair order (the n-th item of each play, and of
each person): the first next episodes of every play (and their sidecars, which share their
item) go together, but no play's second item is taken ahead of the first item of a play
that arrives a moment later.

While a small copy runs, a copy deeper in that order for someone else waits for it
(`SmallFirst`): a small copy is done in a moment, and a play's first item arriving meanwhile
then finds a free slot and the disk to itself instead of sharing them with someone's second
item. In a burst of plays, the next episodes are copied before the episodes being played,
not beside them. A holder's own items never wait for each other this way, so one person's
many small files still go as many at a time as the slots allow.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from typing import Final

from cacherr.executor.operation import Operation

SMALL_FILE_BYTES: Final = 4 * 2**20  # sidecars, small episodes: their fixed cost dominates
BATCH_FILES: Final = 32
BATCH_BYTES: Final = 32 * 2**20
MIN_SHARE: Final = 4


def batchable(op: Operation) -> bool:
    """Whether `op` may start in a batch: a copy the planner knows to be small."""
    return op.kind == "cache" and op.size_bytes is not None and op.size_bytes <= SMALL_FILE_BYTES


def joiner(
    lead: Operation, running: Collection[tuple[str, str]], *, parts: int = 1
) -> Callable[[Operation], bool]:
    """A test for the next queued operations: whether each joins `lead`'s run (counting
    what joined, so the run stays within `BATCH_BYTES` for each of the `parts` batches it
    may be shared into)."""
    total = lead.size_bytes or 0

    def joins(op: Operation) -> bool:
        nonlocal total
        same_level = level(op) == level(lead)
        if not batchable(op) or not same_level or op.disk != lead.disk:
            return False
        if op.key in running or op.blocked:
            return False
        size = op.size_bytes or 0
        if total + size > BATCH_BYTES * parts:
            return False
        total += size
        return True

    return joins


def level(op: Operation) -> tuple[int, int]:
    """Where `op` stands in the fair order: its window depth, then its person depth."""
    return (op.window_depth, op.depth)


def share(run: list[Operation], slots: int, running: int) -> int:
    """How many of `run` (one level's copies, in order) the first free slot takes, when
    `slots` batches may copy side by side and `running` copies of that level already do."""
    fair = -(-(len(run) + running) // max(slots, 1))
    count = min(len(run), BATCH_FILES, fair if fair >= MIN_SHARE else BATCH_FILES)
    total = 0
    for i, op in enumerate(run[:count]):  # and within `BATCH_BYTES`, as any batch
        total += op.size_bytes or 0
        if i and total > BATCH_BYTES:
            return i
    return count


class SmallFirst:
    """The small copies running, by their level in the fair order; see the module docstring."""

    def __init__(self, running: Iterable[Operation]) -> None:
        self._running: list[tuple[tuple[int, int], str | None]] = []
        for op in running:
            self.started(op)

    def started(self, op: Operation) -> None:
        """Count `op`, which starts now."""
        if batchable(op):
            self._running.append(((op.window_depth, op.depth), op.holder))

    def waits(self, op: Operation) -> bool:
        """Whether copy `op` waits for a small copy of someone else's shallower item."""
        if op.kind != "cache":
            return False
        level = (op.window_depth, op.depth)
        return any(other < level and holder != op.holder for other, holder in self._running)
