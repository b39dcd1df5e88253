"""The one order operations start in: fair across people, then by priority.

Every operation waits in one heap, ranked by (depth, -priority, arrival). Depth is how many
of the same holder's items were already queued or running when it arrived, so in a burst of
plays the first next episode of every person starts before anyone's second, and a person
who pressed play last waits behind the others' first episodes only, not behind their whole
windows. Within one depth the planner's priority decides (the next episode before the one
playing, the owner before a friend), then arrival. A sidecar shares its media's depth (same
Plex item); operations of nobody (restores) are all at depth 0, in priority then arrival.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Callable, Iterator

from cacherr.executor.operation import Operation
from cacherr.files.model import Kind


class FairQueue:
    """Operations waiting to start, best first; see the module docstring.

    The queue also counts each holder's items from `push` until `release` (when the
    operation finishes), so depth covers what is running as well as what waits.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[int, float, int, Operation]] = []
        self._waiting: dict[Kind, int] = defaultdict(int)
        # holder -> item -> (depth, operations of that item not finished)
        self._items: dict[str, dict[str, tuple[int, int]]] = {}
        self._counted: set[int] = set()  # ids of operations in `_items`

    def push(self, op: Operation) -> None:
        """Rank `op` and queue it."""
        if op.holder is not None:
            items = self._items.setdefault(op.holder, {})
            depth, count = items.get(op.item, (-1, 0))
            if depth < 0:
                depth = max((d for d, _ in items.values()), default=-1) + 1
            items[op.item] = (depth, count + 1)
            op.depth = depth
            self._counted.add(op.id)
        heapq.heappush(self._heap, (op.depth, -op.priority, op.id, op))
        self._waiting[op.kind] += 1

    def take(
        self, ready: Callable[[Operation], bool], room: Callable[[Kind], bool]
    ) -> Iterator[Operation]:
        """Yield the best queued operations that are `ready`, while their lane has `room`.

        Each yielded operation leaves the queue (the caller starts it before asking for the
        next); the others stay in place. A lane with no room is not looked at further.
        """
        passed: list[tuple[int, float, int, Operation]] = []
        left = dict(self._waiting)
        try:
            while self._heap and any(n > 0 and room(k) for k, n in left.items()):
                entry = heapq.heappop(self._heap)
                op = entry[3]
                if op.state != "queued":
                    continue  # cancelled while it waited
                left[op.kind] -= 1
                if room(op.kind) and ready(op):
                    self._waiting[op.kind] -= 1
                    yield op
                else:
                    passed.append(entry)
        finally:
            for entry in passed:
                heapq.heappush(self._heap, entry)

    def take_run(self, joins: Callable[[Operation], bool], limit: int) -> list[Operation]:
        """The best queued operations while each `joins` (at most `limit`), in order; stops
        at the first that does not, so nothing better is passed over. Between `take`'s
        yields, the operations right after the one it yielded."""
        taken: list[Operation] = []
        while self._heap and len(taken) < limit:
            op = self._heap[0][3]
            if op.state == "queued" and not joins(op):
                break
            heapq.heappop(self._heap)
            if op.state == "queued":  # not cancelled while it waited
                self._waiting[op.kind] -= 1
                taken.append(op)
        return taken

    def drop(self, op: Operation) -> None:
        """Forget a queued operation (cancelled): it is skipped when its turn comes."""
        self._waiting[op.kind] -= 1

    def release(self, op: Operation) -> None:
        """An operation finished (or was cancelled): its holder's count goes down."""
        if op.holder is None or op.id not in self._counted:
            return
        self._counted.discard(op.id)
        items = self._items.get(op.holder, {})
        depth, count = items.get(op.item, (0, 1))
        if count > 1:
            items[op.item] = (depth, count - 1)
        else:
            items.pop(op.item, None)
        if not items:
            self._items.pop(op.holder, None)

    def __iter__(self) -> Iterator[Operation]:
        """Queued operations, best first (a copy: sorting is for the page, not the pump)."""
        return (e[3] for e in sorted(self._heap) if e[3].state == "queued")

    def __len__(self) -> int:
        return sum(self._waiting.values())
