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
"""

from __future__ import annotations

from collections.abc import Callable, Collection
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
