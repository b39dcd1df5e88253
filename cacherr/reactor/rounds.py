"""Windows written in rounds: the reactions ready at one moment share one survey, one claims
commit and one plan.

Each reaction used to take every trip alone: its files surveyed on a worker thread, its
claims committed on the database thread, the index refreshed and a plan made under the
engine's lock. In a burst the reactions queued behind each other's trips, and the plan's
bookkeeping ran once per person. Now a reaction hands its window to `WindowRounds` and
waits. A window arriving while nothing runs starts a round at once; the windows arriving
during a round go together in the next. A quiet server sees rounds of one; a burst pays the
trips a few times instead of once per play.

A round's claims are one transaction in which each window replaces its user's `playing` and
`next_up` claims of its show, as a reaction did alone. An error (Plex, a full disk) reaches
every window of the round, which each reaction then handles as before. What the plan hands
over is told back per window, by the window's files (claimed or released): each file to
the first window of the round naming it, as when reactions ran one after the other; an
eviction naming no window's file (room made for the round) to the round's first window.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from dataclasses import dataclass

from cacherr.claims import Change, Claim, ClaimSet
from cacherr.plex.users import EffectivePolicy, PlexUser
from cacherr.reactor.engine import CacheEngine, Submitted
from cacherr.reactor.window import WINDOW_SOURCES, Link, window_claims


@dataclass(frozen=True)
class Window:
    """A user's window on one show (or movie) to write: the whole set of its claims."""

    user: PlexUser
    policy: EffectivePolicy
    key: str  # the show's rating key (a movie's own)
    links: list[Link]


@dataclass(frozen=True)
class Written:
    """What a window's write did, as a reaction reports it."""

    claims: list[Claim]
    change: Change
    submitted: Submitted
    unfit: int
    dropped: int


class WindowRounds:
    """Writes windows in rounds; see the module docstring."""

    def __init__(self, engine: CacheEngine) -> None:
        self._engine = engine
        self._waiting: list[tuple[Window, asyncio.Future[Written]]] = []
        self._task: asyncio.Task[None] | None = None

    async def write(self, window: Window) -> Written:
        """Claim `window` (in the next round) and plan its files; what was done for it."""
        written: asyncio.Future[Written] = asyncio.get_running_loop().create_future()
        self._waiting.append((window, written))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._rounds(), name="window-rounds")
        return await written  # a reaction cancelled leaves its round whole

    async def close(self) -> None:
        """Stop the round in progress; the windows waiting get the cancellation."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for _, written in self._waiting:
            written.cancel()
        self._waiting.clear()

    async def _rounds(self) -> None:
        while self._waiting:
            group, self._waiting = self._waiting, []
            try:
                results = await self._round([window for window, _ in group])
            except asyncio.CancelledError:
                for _, written in group:
                    written.cancel()
                raise
            except Exception as exc:  # each reaction reports it, as it did alone
                for _, written in group:
                    if not written.done():
                        written.set_exception(exc)
                continue
            for (_, written), result in zip(group, results, strict=True):
                if not written.done():
                    written.set_result(result)

    async def _round(self, windows: list[Window]) -> list[Written]:
        engine = self._engine
        found = await engine.survey(p for w in windows for link in w.links for p in link.item.files)
        sets = []
        for w in windows:
            files = {link.item.rating_key: found.with_sidecars(link.item.files) for link in w.links}
            claims = window_claims(w.links, files, user=w.user, policy=w.policy, show_key=w.key)
            sets.append(ClaimSet(frozenset(WINDOW_SOURCES), w.user.id, claims, show_key=w.key))
        changes = await engine.store.replace_all(sets, now=engine.clock())
        plan, submitted = await engine.commit(
            _merged(changes), [c.plex_path for s in sets for c in s.claims], found=found
        )
        owner: dict[str, int] = {}
        for i, (each, change) in enumerate(zip(sets, changes, strict=True)):
            for path in [*(c.plex_path for c in each.claims), *change.touched]:
                owner.setdefault(path, i)
        for path in [*submitted.files, *submitted.held]:
            owner.setdefault(path, 0)
        out = []
        for i, (each, change) in enumerate(zip(sets, changes, strict=True)):
            mine = {path for path, n in owner.items() if n == i}
            out.append(
                Written(
                    claims=each.claims,
                    change=change,
                    submitted=submitted.only(mine),
                    unfit=sum(1 for u in plan.unfit if u.plex_path in mine),
                    dropped=sum(1 for d in plan.dropped if d.plex_path in mine),
                )
            )
        return out


def _merged(changes: Iterable[Change]) -> Change:
    added: dict[str, None] = {}
    removed: dict[str, None] = {}
    released: dict[str, None] = {}
    for change in changes:
        added.update(dict.fromkeys(change.added))
        removed.update(dict.fromkeys(change.removed))
        released.update(dict.fromkeys(change.released))
    return Change(added=tuple(added), removed=tuple(removed), released=tuple(released))
