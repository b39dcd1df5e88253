"""Which queued copies start together as one batch (`files.batch`), and how many.

A small file's copy costs its journal commits and fsyncs more than its bytes, so the copies
of small files that come next in the fair order start together: one slot of
`cache.copy_concurrency` and of `cache.copies_per_disk`, one commit per step for all. Only
copies whose size the planner gave and that are small join a batch, only from the same array
disk, and a batch takes a run of the fair order as it is: it ends at the first operation that
cannot join (a big copy, a restore), which starts on its own as before. So a big file never
waits behind more small ones than the fair order put before it, and a batch's bytes are
bounded (`BATCH_BYTES`), so no slot is held long.

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


def batchable(op: Operation) -> bool:
    """Whether `op` may start in a batch: a copy the planner knows to be small."""
    return op.kind == "cache" and op.size_bytes is not None and op.size_bytes <= SMALL_FILE_BYTES


def joiner(lead: Operation, running: Collection[tuple[str, str]]) -> Callable[[Operation], bool]:
    """A test for the next queued operations: whether each joins `lead`'s batch (counting
    what joined, so the batch stays within `BATCH_BYTES`)."""
    total = lead.size_bytes or 0

    def joins(op: Operation) -> bool:
        nonlocal total
        same_level = (op.window_depth, op.depth) == (lead.window_depth, lead.depth)
        if not batchable(op) or not same_level or op.disk != lead.disk:
            return False
        if op.key in running or op.blocked:
            return False
        size = op.size_bytes or 0
        if total + size > BATCH_BYTES:
            return False
        total += size
        return True

    return joins


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
