"""The cache engine: claims in the store and the planner's index kept in step, plans submitted.

Reactions, pins and the sweep all end here: they write claims, then ask the engine to plan
the paths they touched (or everything) and hand the plan's actions to the executor. The
engine owns the planner's in-memory `Index` and keeps it equal to the database: claims after
every write, managed files as operations are submitted and finish (the executor's
`on_finish` hook, its one completion path), which is also when the mover's ignore list is
rewritten.

The engine keeps no queue: every action goes to the executor's one queue at once, with its
priority and the holder of its strongest claim, and the executor's fair order decides what
starts next. A copy that evictions make room for names them as what it waits for.

A restore or an eviction is never submitted for a file in an active Plex session: the
session poller is asked again right before each one is handed over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from cacherr.claims import Change, Claim, ClaimStore, ManagedFile
from cacherr.claims.priority import live_priority
from cacherr.config.models import Settings
from cacherr.db import Database
from cacherr.errors import PathRefused
from cacherr.events import ClaimsDropped, DroppedClaim, EventBus
from cacherr.executor import Executor, Operation
from cacherr.files.journal import Journal
from cacherr.files.model import CACHED, Outcome
from cacherr.files.mover import MoverExclusion
from cacherr.files.paths import Location, PathResolver, Placed
from cacherr.files.queries import media_file
from cacherr.files.sidecars import is_media
from cacherr.planner import Index, Plan, Space, plan_all, plan_paths
from cacherr.reactor.survey import Survey, survey
from cacherr.sources.sessions import SessionPoller

log = logging.getLogger(__name__)

# While the mover's ignore list cannot be written (its folder full or read-only), try again
# this often: until then the mover may move newly cached files back to the array.
MOVER_RETRY_S: Final = 60.0
# After a rewrite, what finished meanwhile is written together this much later.
MOVER_COALESCE_S: Final = 0.25


@dataclass
class Submitted:
    """What one plan handed to the executor, and what it held back."""

    held: list[str] = field(default_factory=list)
    # Each file handed over: "cached", "restored" or "evicted".
    files: dict[str, str] = field(default_factory=dict)

    @property
    def cached(self) -> int:
        """Copies handed over."""
        return sum(1 for what in self.files.values() if what == "cached")

    @property
    def restored(self) -> int:
        """Restores handed over (retention over, claims gone)."""
        return sum(1 for what in self.files.values() if what == "restored")

    @property
    def evicted(self) -> int:
        """Evictions handed over (room made for files of higher priority)."""
        return sum(1 for what in self.files.values() if what == "evicted")

    def only(self, plex_paths: Collection[str]) -> Submitted:
        """The part of this that concerns `plex_paths`."""
        return Submitted(
            held=[p for p in self.held if p in plex_paths],
            files={p: what for p, what in self.files.items() if p in plex_paths},
        )

    def as_dict(self) -> dict[str, Any]:
        """For events and the API."""
        return {
            "cached": self.cached,
            "restored": self.restored,
            "evicted": self.evicted,
            "held": len(self.held),
        }


class CacheEngine:
    """Claims → index → plan → executor; see the module docstring."""

    def __init__(
        self,
        db: Database,
        bus: EventBus,
        settings: Callable[[], Settings],
        *,
        config_dir: Path,
        clock: Callable[[], float],
        sessions: SessionPoller | None = None,
        refused_mappings: Collection[str] = (),
    ) -> None:
        self.store = ClaimStore(db)
        self.index = Index()
        self.clock = clock
        self._db = db
        self._bus = bus
        self._settings = settings
        self._config_dir = config_dir
        self._sessions = sessions
        self._refused = frozenset(refused_mappings)
        self._executor: Executor | None = None
        self._lock = asyncio.Lock()
        self._resolver_for: tuple[Any, PathResolver] | None = None
        self._mover_dirty = False
        self._mover_task: asyncio.Task[None] | None = None
        self._mover_retry: asyncio.TimerHandle | None = None
        # Why the mover's ignore list could not be written last time (None: it was).
        self.mover_problem: str | None = None
        # Set after every plan submitted: the retention timer looks again at the return times.
        self.planned = asyncio.Event()

    # --- set-up ------------------------------------------------------------------------

    def attach(self, executor: Executor) -> None:
        """The executor actions go to (it calls `on_operation` when one finishes)."""
        self._executor = executor

    @property
    def executor(self) -> Executor | None:
        """The attached executor, if any."""
        return self._executor

    async def load(self) -> None:
        """Build the index from the store (start-up, and the sweep's fresh look).

        Under the engine lock, like every other change to the index: a reaction's claims
        written meanwhile are applied to the new index once it is in place, never to the old
        one the swap throws away.
        """
        async with self._lock:
            claims, managed = await self.store.all(), await self.store.managed()
            index = Index.build(claims, managed)
            # A copy handed to the executor is in the store only once it starts: until then
            # it stays in flight here, or a plan would count its room as free again.
            now = self.clock()
            for op in self._executor.operations() if self._executor is not None else ():
                path = op.location.plex_path
                if op.kind == "cache" and index.managed(path) is None:
                    queued = ManagedFile(path, op.size_bytes or 0, now, rating_key=op.rating_key,
                                         in_flight=True)  # fmt: skip
                    index.put_managed(queued)
            self.index = index

    async def refresh_claims(self, paths: Iterable[str]) -> None:
        """Bring the index's claims of `paths` up to date with the store."""
        async with self._lock:
            by_path = await self.store.for_paths(list(dict.fromkeys(paths)))
            self.index.update_claims(by_path, now=self.clock())

    @property
    def resolver(self) -> PathResolver:
        """The path gate for the current mappings (those refused at start-up left out)."""
        mappings = self._settings().paths.mappings
        if self._resolver_for is None or self._resolver_for[0] is not mappings:
            usable = [m for m in mappings if m.name not in self._refused]
            self._resolver_for = (mappings, PathResolver(usable))
        return self._resolver_for[1]

    def active_paths(self) -> frozenset[str]:
        """Plex paths of the files being played now."""
        return self._sessions.active_paths() if self._sessions is not None else frozenset()

    def is_active(self, plex_path: str) -> bool:
        """Whether a file is being played now (asked again before each restore)."""
        return self._sessions is not None and self._sessions.is_active(plex_path)

    # --- planning ----------------------------------------------------------------------

    async def survey(self, media: Iterable[str], *, measure: Iterable[str] = ()) -> Survey:
        """Sidecars, sizes and the pool's space, in one hop to a worker thread."""
        policy = self._settings().cache.sidecars
        return await asyncio.to_thread(
            survey, self.resolver, list(media), measure=list(measure), sidecars=policy
        )

    async def commit(
        self, change: Change, paths: Iterable[str], *, found: Survey | None = None
    ) -> tuple[Plan, Submitted]:
        """After a claims write: bring the index up to date, plan `paths` (and what the
        write touched), submit. `found` is a survey of those paths taken just before."""
        wanted = list(dict.fromkeys([*paths, *change.touched]))
        await self.refresh_claims(wanted)
        return await self.plan(wanted, found=found)

    async def plan(
        self,
        paths: Iterable[str] | None,
        *,
        found: Survey | None = None,
        index: Index | None = None,
        dry_run: bool = False,
    ) -> tuple[Plan, Submitted]:
        """Plan `paths` (None: everything) and submit the actions unless `dry_run`."""
        index = self.index if index is None else index
        listed = None if paths is None else list(dict.fromkeys(paths))
        candidates = listed if listed is not None else list(index.claimed_paths)
        missing = [p for p in candidates if index.managed(p) is None and index.claims(p)]
        unknown = missing if found is None else [p for p in missing if not found.knows(p)]
        if found is None or unknown:
            more = await self.survey((), measure=unknown)
            found = more if found is None else found.merged(more)
        async with self._lock:
            settings, now = self._settings(), self.clock()
            used = sum(f.size_bytes for f in index.managed_files.values())
            space = Space.from_config(
                settings.cache,
                total_bytes=found.total_bytes,
                free_bytes=found.free_bytes,
                used_bytes=used,
            )
            args: dict[str, Any] = {
                "sizes": found.sizes,
                "space": space,
                "active": self.active_paths(),
                "now": now,
                "retention_hours": settings.retention.hours,
            }
            result = (
                plan_all(index, **args) if listed is None else plan_paths(index, listed, **args)
            )
            if dry_run:
                return result, Submitted()
            submitted = self._submit(result, now, found)
        self.planned.set()
        if result.dropped:
            await self._drop(result, found)
        return result, submitted

    def _submit(self, result: Plan, now: float, found: Survey) -> Submitted:
        done = Submitted()
        # A copy that evictions make room for waits for them: the protocol's own space check
        # would refuse the copy while they run.
        leaving: list[Operation] = []
        executor = self._executor
        if executor is None:
            log.warning("No executor: %d planned actions not run", len(result.actions))
            return done
        for action in result.actions:
            path = action.plex_path
            try:
                if action.kind == "cache":
                    loc = self._surveyed(found, path) or self.resolver.for_move(path)
                else:
                    loc = self.resolver.from_plex(path)
            except PathRefused as exc:
                log.warning("Not %sing %s: %s", action.kind, path, exc.message)
                continue
            if action.kind == "cache":
                claims = self.index.claims(path)
                rating_key = next((c.rating_key for c in claims if c.rating_key), None)
                strongest = self._strongest(path, now)
                try:
                    executor.submit("cache", loc, rating_key=rating_key, reason=action.reason,
                                    priority=action.priority or 0.0,
                                    holder=strongest.user_id if strongest else None,
                                    show=strongest.show_key if strongest else None,
                                    after=leaving, size_bytes=action.size_bytes)  # fmt: skip
                except RuntimeError:  # the executor is closing
                    continue
                self.index.put_managed(
                    ManagedFile(path, action.size_bytes, now, rating_key=rating_key, in_flight=True)
                )
                done.files[path] = "cached"
                continue
            if self.is_active(path):  # asked again: a session may have started since
                log.info("Keeping %s on the cache: it is being played", path)
                done.held.append(path)
                continue
            op = executor.submit("restore", loc, reason=f"{action.kind}: {action.reason}")
            done.files[path] = "restored" if action.kind == "restore" else "evicted"
            if action.kind != "restore":
                leaving.append(op)
        return done

    def _surveyed(self, found: Survey, plex_path: str) -> Location | None:
        """Where the survey just found the file on disk, if under the current mappings."""
        loc = found.locations.get(plex_path)
        if loc is None or all(loc.mapping is not m for m in self.resolver.mappings):
            return None
        return loc

    def _strongest(self, plex_path: str, now: float) -> Claim | None:
        """The file's strongest live claim: whose it is and for which show, the fair order
        counts by."""
        live = [c for c in self.index.claims(plex_path) if not c.expired(now)]
        if not live:
            return None
        return max(live, key=lambda c: live_priority(c, now))

    async def _drop(self, result: Plan, found: Survey) -> None:
        paths = [d.plex_path for d in result.dropped]
        reasons = {
            p: found.problems.get(p, d.reason) for p, d in zip(paths, result.dropped, strict=True)
        }
        change = await self.store.release(paths, now=self.clock())
        await self.refresh_claims(change.removed)
        for path, reason in reasons.items():
            log.warning("Claims on %s dropped: %s", path, reason)
        dropped = tuple(DroppedClaim(path=p, reason=r) for p, r in reasons.items())
        self._bus.publish(ClaimsDropped(files=dropped))

    # --- operations finishing ------------------------------------------------------------

    async def on_operation(self, op: Operation, outcome: Outcome) -> None:
        """The executor's `on_finish` hook, for every operation however it ended."""
        if op.kind == "cache":  # done: now cached; otherwise: no longer in flight
            await self._reload_managed(outcome.path)
        elif outcome.result == "done":
            async with self._lock:
                self.index.drop_managed(outcome.path)
            await self._sidecars_follow(outcome.path)
        if outcome.result == "done":
            self.refresh_mover()

    async def _sidecars_follow(self, media_path: str) -> None:
        """A media file went back: its sidecars on the cache go back too, their claims
        released so a plan does not copy them again without it (a new claim brings both)."""
        executor = self._executor
        try:
            media = self.resolver.from_plex(media_path)
        except PathRefused:
            return
        if executor is None or not is_media(media.array_path):
            return
        sidecars = await Journal(self._db).sidecars_of(media.mapping_name, media.rel)
        paths = [m.plex_path for m in sidecars if m.state == CACHED]
        if not paths:
            return
        change = await self.store.release(paths, now=self.clock())
        async with self._lock:
            self.index.update_claims(await self.store.for_paths(change.removed), now=self.clock())
        # Asked again after the awaits above, and submitted with none in between, so a
        # restore a plan already made for a sidecar is not made twice. The journal's answer
        # may predate a restore that ended while it was read (and is no longer busy): the
        # index, which that restore's end updated before it let go of the file, says so.
        sidecars = await Journal(self._db).sidecars_of(media.mapping_name, media.rel)
        busy = executor.busy()
        paths = [
            m.plex_path
            for m in sidecars
            if m.state == CACHED
            and (m.mapping, m.rel_path) not in busy
            and self.index.managed(m.plex_path) is not None
        ]
        for path in paths:
            if self.is_active(path):
                log.warning("The sidecar %s stays on the cache: it is being played", path)
                continue
            executor.submit(
                "restore", self.resolver.from_plex(path), reason=f"sidecar of {media_path}"
            )

    async def _reload_managed(self, plex_path: str) -> None:
        async with self._lock:
            row = await media_file(self._db, plex_path)
            if row is None:
                self.index.drop_managed(plex_path)
                return
            self._put_row(row)

    def _put_row(self, row: Any) -> None:
        self.index.put_managed(
            ManagedFile(
                plex_path=row["plex_path"],
                size_bytes=int(row["size"]),
                cached_at=float(row["cached_at"]),
                released_at=row["released_at"],
                rating_key=row["rating_key"],
                in_flight=row["state"] != "cached",
            )
        )

    async def recover_stranded(self) -> None:
        """Settle operations a database write failure stopped (the sweep asks, before it
        re-reads the index); their files are held in flight until then."""
        if self._executor is None:
            return
        done = await self._executor.recover_stranded()
        if done:
            log.warning("Recovered %d operation(s) stopped by a database write failure", len(done))
            self.refresh_mover()

    def refresh_mover(self) -> None:
        """Rewrite the mover's ignore list soon (coalesced: one rewrite at a time)."""
        self._mover_dirty = True
        if self._mover_task is None or self._mover_task.done():
            self._mover_task = asyncio.create_task(self._mover_loop(), name="mover-exclusion")

    async def _mover_loop(self) -> None:
        while self._mover_dirty:
            self._mover_dirty = False
            settings = self._settings()
            exclusion = MoverExclusion.from_config(settings.mover, self._config_dir)
            if exclusion.path is None:
                return
            paths = list(self.index.managed_files)
            try:
                await exclusion.refresh(_place_all(self.resolver, paths))
            except OSError as exc:
                self._mover_failed(f"{exclusion.path}: {exc.strerror or exc}")
            else:
                if self.mover_problem is not None:
                    log.warning("The mover exclusion file is written again")
                self.mover_problem = None
            if self._mover_dirty:
                # Copies finishing meanwhile wait a moment for one rewrite together: in a
                # burst, a rewrite per copy finished went over every cached file each time.
                await asyncio.sleep(MOVER_COALESCE_S)

    def _mover_failed(self, problem: str) -> None:
        if self.mover_problem is None:
            log.error("Could not write the mover exclusion file %s; trying again every %d s. "
                      "Until then the mover may move newly cached files back to the array.",
                      problem, MOVER_RETRY_S)  # fmt: skip
        self.mover_problem = problem
        if self._mover_retry is None:
            self._mover_retry = asyncio.get_running_loop().call_later(
                MOVER_RETRY_S, self._retry_mover
            )

    def _retry_mover(self) -> None:
        self._mover_retry = None
        self.refresh_mover()

    async def run_until_idle(self) -> None:
        """Wait for the executor, the bookkeeping after it and the mover list to settle."""
        while True:
            if self._executor is not None:
                await self._executor.run_until_idle()
            pending = []
            if self._mover_task is not None and not self._mover_task.done():
                pending.append(self._mover_task)
            busy = self._executor is not None and bool(self._executor.operations())
            if not pending and not busy:
                return
            await asyncio.gather(*pending, return_exceptions=True)

    async def close(self) -> None:
        """Finish the bookkeeping still running (the executor is closed by its owner)."""
        if self._mover_retry is not None:
            self._mover_retry.cancel()
        tasks = []
        if self._mover_task is not None:
            tasks.append(self._mover_task)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _place_all(resolver: PathResolver, paths: list[str]) -> Iterator[Placed]:
    # By the text alone: each file's folders were checked on disk when it was cached, and
    # resolving them all again after every finished copy kept a core busy during bursts.
    # A generator: the exclusion list goes through it on its worker thread.
    for path in paths:
        try:
            placed = resolver.place(path)
        except PathRefused:
            continue
        yield placed
