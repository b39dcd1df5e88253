"""The one order operations start in: fair across plays and people, then by priority.

Every operation waits in one heap, ranked by (window depth, person depth, -priority,
arrival). A window is one person's items of one show (a movie is a window of its own); an
item's window depth is how many of that window's items were already queued or running when
it arrived, its person depth the same count over all of the person's items. So in a burst
of plays the first next episode of every play starts before any play's second, whether the
plays are forty people's or one account's on forty screens, and among those first episodes
each person's first comes before anyone's second. Within one depth the planner's priority
decides (the next episode before the one playing, the owner before a friend), then arrival.
A sidecar shares its media's depths (same Plex item); operations of nobody (restores) are
all at depth 0, in priority then arrival.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator

from cacherr.executor.operation import Operation
from cacherr.files.model import Kind


class Depths:
    """Per group, the depth each item got on arrival and how many of its operations are open.

    An item's depth is the number of other items the group had open when it arrived; it
    keeps that depth while any of its operations (media and sidecars) is open.
    """

    def __init__(self) -> None:
        self._groups: dict[Hashable, dict[str, tuple[int, int]]] = {}

    def enter(self, group: Hashable, item: str) -> int:
        """Count one more open operation of `item` in `group`; its depth."""
        items = self._groups.setdefault(group, {})
        depth, count = items.get(item, (-1, 0))
        if depth < 0:
            depth = max((d for d, _ in items.values()), default=-1) + 1
        items[item] = (depth, count + 1)
        return depth

    def leave(self, group: Hashable, item: str) -> None:
        """One operation of `item` in `group` is no longer open."""
        items = self._groups.get(group, {})
        depth, count = items.get(item, (0, 1))
        if count > 1:
            items[item] = (depth, count - 1)
        else:
            items.pop(item, None)
        if not items:
            self._groups.pop(group, None)


class FairQueue:
    """Operations waiting to start, best first; see the module docstring.

    The queue also counts each holder's items from `push` until `release` (when the
    operation finishes), so depth covers what is running as well as what waits.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, float, int, Operation]] = []
        self._waiting: dict[Kind, int] = defaultdict(int)
        self._people = Depths()  # by holder
        self._windows = Depths()  # by (holder, show)
        self._counted: set[int] = set()  # ids of operations counted in the depths

    def push(self, op: Operation) -> None:
        """Rank `op` and queue it."""
        if op.holder is not None:
            op.window_depth = self._windows.enter(op.window, op.item)
            op.depth = self._people.enter(op.holder, op.item)
            self._counted.add(op.id)
        heapq.heappush(self._heap, _entry(op))
        self._waiting[op.kind] += 1

    def take(
        self, ready: Callable[[Operation], bool], room: Callable[[Kind], bool]
    ) -> Iterator[Operation]:
        """Yield the best queued operations that are `ready`, while their lane has `room`.

        Each yielded operation leaves the queue (the caller starts it before asking for the
        next); the others stay in place. A lane with no room is not looked at further.
        """
        passed: list[tuple[int, int, float, int, Operation]] = []
        left = dict(self._waiting)
        rooms = {kind: room(kind) for kind in left}  # asked again once the caller started one
        try:
            while self._heap and any(n > 0 and rooms[k] for k, n in left.items()):
                entry = heapq.heappop(self._heap)
                op = entry[4]
                if op.state != "queued":
                    continue  # cancelled while it waited
                left[op.kind] -= 1
                if rooms[op.kind] and ready(op):
                    self._waiting[op.kind] -= 1
                    yield op
                    rooms = {kind: room(kind) for kind in left}
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
            op = self._heap[0][-1]
            if op.state == "queued" and not joins(op):
                break
            heapq.heappop(self._heap)
            if op.state == "queued":  # not cancelled while it waited
                self._waiting[op.kind] -= 1
                taken.append(op)
        return taken

    def put_back(self, ops: Iterable[Operation]) -> None:
        """Queue again, in their places, operations `take_run` gave that will not start now
        (their depths were counted when they were pushed)."""
        for op in ops:
            heapq.heappush(self._heap, _entry(op))
            self._waiting[op.kind] += 1

    def drop(self, op: Operation) -> None:
        """Forget a queued operation (cancelled): it is skipped when its turn comes."""
        self._waiting[op.kind] -= 1

    def release(self, op: Operation) -> None:
        """An operation finished (or was cancelled): its holder's count goes down."""
        if op.holder is None or op.id not in self._counted:
            return
        self._counted.discard(op.id)
        self._windows.leave(op.window, op.item)
        self._people.leave(op.holder, op.item)

    def __iter__(self) -> Iterator[Operation]:
        """Queued operations, best first (a copy: sorting is for the page, not the pump)."""
        return (e[4] for e in sorted(self._heap) if e[4].state == "queued")

    def __len__(self) -> int:
        return sum(self._waiting.values())


def _entry(op: Operation) -> tuple[int, int, float, int, Operation]:
    """`op`'s place in the heap: window depth, person depth, priority (best first), arrival."""
    return (op.window_depth, op.depth, -op.priority, op.id, op)
