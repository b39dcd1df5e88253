"""The reconcile sweep: every claim recomputed from on-deck, watchlists, lists and pins.

Steps, each reported as `cycle_progress`: on-deck → watchlists → lists → pinned →
retention (expired claims end) → plan (everything: restores, evictions, copies). Each
user's `ondeck` and `watchlist` claims are replaced as a set, so what left a deck is
released; a user whose deck could not be read keeps theirs. One sweep runs at a time;
reactions go on meanwhile (they only wait for the short planning step). A dry run collects
the same way, plans against the claims it *would* write, and touches nothing.

Runs every `sweep.interval_s`, or on `sweep.cron` when set, at start-up (`sweep.on_start`)
and on demand.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Final

from cacherr import events
from cacherr.claims import pin_holder
from cacherr.config.models import Settings
from cacherr.errors import CacherrError, DatabaseUnwritable
from cacherr.events import EventBus
from cacherr.planner import Index, dry_run
from cacherr.reactor.collect import Collector, Replacement
from cacherr.reactor.cron import Cron, CronError
from cacherr.reactor.engine import CacheEngine
from cacherr.reactor.pins import Pins
from cacherr.tasks import cancel_and_wait

log = logging.getLogger(__name__)

STEPS: Final = ("ondeck", "watchlists", "lists", "pinned", "retention", "plan")


# Import lists plug in here: a callable giving one Replacement per list (source `list`).
ListsHook = Callable[[], Awaitable[list[Replacement]]]


@dataclass
class SweepResult:
    """What one sweep did (or, in a dry run, would do)."""

    dry_run: bool = False
    cached: int = 0
    restored: int = 0
    evicted: int = 0
    unfit: int = 0
    dropped: int = 0
    held: int = 0
    duration_s: float = 0.0
    failed: dict[str, str] = field(default_factory=dict)
    plan: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """For the API."""
        return asdict(self)


class Sweeper:
    """`start()` / `close()`; `trigger()` starts one in the background, `sweep()` awaits one."""

    def __init__(
        self,
        engine: CacheEngine,
        settings: Callable[[], Settings],
        bus: EventBus,
        *,
        collector: Collector | None = None,
        pins: Pins | None = None,
        lists: ListsHook | None = None,
    ) -> None:
        self._engine = engine
        self._settings = settings
        self._bus = bus
        self._collector = collector
        self._pins = pins
        self._lists = lists
        self._lock = asyncio.Lock()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._current: asyncio.Task[None] | None = None
        self._bad_cron: str | None = None
        self.last: SweepResult | None = None
        self.last_finished_at: float | None = None
        self._again = False
        if collector is not None:
            collector.on_fresh = self._fresh_state

    # --- lifetime ------------------------------------------------------------------------

    @property
    def collector(self) -> Collector | None:
        """What reads Plex and plex.tv for the sweep (None without Plex)."""
        return self._collector

    @property
    def running(self) -> bool:
        """Whether a sweep (not a dry run) is in progress."""
        return self._lock.locked()

    async def start(self) -> None:
        """Begin the timer (and the start-up sweep when `sweep.on_start`)."""
        self._stop.clear()
        self._task = asyncio.create_task(self._timer(), name="sweep-timer")

    def _fresh_state(self) -> None:
        # plex.tv's background refresh found the watchlists changed: sweep with them (after
        # the running sweep when there is one).
        if not self.trigger():
            self._again = True

    async def close(self) -> None:
        """Stop the timer, any sweep in progress and plex.tv's background refresh."""
        if self._collector is not None:
            await self._collector.close()
        self._stop.set()
        for task in (self._task, self._current):
            await cancel_and_wait(task)
        self._task = self._current = None

    def state(self) -> dict[str, Any]:
        """For `GET /api/status` and `GET /api/sweep`: running or idle, the last result."""
        last = self.last.as_dict() if self.last is not None else None
        if last is not None:
            last.pop("plan", None)
        return {
            "state": "running" if self.running else "idle",
            "last": last,
            "last_finished_at": self.last_finished_at,
            "next_in_s": round(self.delay_s(self._engine.clock()), 1),
        }

    def trigger(self) -> bool:
        """Start a sweep in the background; False when one is already running."""
        if self.running or (self._current is not None and not self._current.done()):
            return False
        self._current = asyncio.create_task(self._logged(), name="sweep")
        return True

    async def run_until_idle(self) -> None:
        """Return once no sweep runs (tests wait on this)."""
        while self._current is not None and not self._current.done():
            await asyncio.wait([self._current])

    def delay_s(self, now_s: float) -> float:
        """Seconds until the next scheduled sweep: by `sweep.cron` when set and valid."""
        cfg = self._settings().sweep
        if cfg.cron:
            try:
                return Cron.parse(cfg.cron).seconds_until_next(now_s)
            except CronError as exc:
                if self._bad_cron != cfg.cron:
                    self._bad_cron = cfg.cron
                    log.warning("sweep.cron %r ignored (%s); every %d s instead",
                                cfg.cron, exc, cfg.interval_s)  # fmt: skip
        return float(cfg.interval_s)

    def _scheduled(self) -> None:
        # Without a usable mapping nothing can be cached: scheduled sweeps wait for one.
        if not self._engine.resolver.mappings:
            log.debug("Scheduled sweep skipped: no path mapping is configured")
        elif not self.trigger():
            log.info("Scheduled sweep skipped: one is still running")

    async def _timer(self) -> None:
        if self._settings().sweep.on_start:
            self._scheduled()
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.delay_s(self._engine.clock()))
                return
            self._scheduled()

    async def _logged(self) -> None:
        try:
            await self.sweep()
        except asyncio.CancelledError:
            raise
        except DatabaseUnwritable as exc:  # already reported by the database (health)
            log.warning("The sweep stopped: %s", exc.message)
        except Exception:
            log.exception("The sweep failed")
        if self._again and not self._stop.is_set():
            self._again = False
            asyncio.get_running_loop().call_soon(self.trigger)

    # --- the sweep ----------------------------------------------------------------------

    async def sweep(self, *, dry_run: bool = False, fresh: bool = False) -> SweepResult:
        """Run one sweep now (a dry run may overlap a real one: it writes nothing).

        A dry run plans from the latest known on-deck and watchlists unless `fresh`, which
        gathers both from Plex and plex.tv first.
        """
        if dry_run:
            return await self._sweep(dry_run=True, fresh=fresh)
        async with self._lock:
            return await self._sweep(dry_run=False, fresh=fresh)

    async def _sweep(self, *, dry_run: bool, fresh: bool = False) -> SweepResult:
        started = time.monotonic()
        result = SweepResult(dry_run=dry_run)
        engine, store = self._engine, self._engine.store
        done = 0

        def progress(step: str) -> None:
            nonlocal done
            done += 1
            if not dry_run:
                self._bus.publish(events.CycleProgress(step=step, done=done, total=len(STEPS)))

        if not dry_run:
            self._bus.publish(events.CycleStart(steps=tuple(STEPS), message="Sweep started"))
        replacements: list[Replacement] = []
        collector = self._collector
        if collector is not None and collector.plex_ready():
            await collector.refresh_users(result.failed, background=False)
            reuse = dry_run and not fresh  # the plan route: the latest known state as it is
            replacements += await collector.ondeck(
                result.failed, fresh=fresh or not dry_run, reuse=reuse
            )
            if not dry_run:  # after on-deck, so its token fetches get plex.tv's budget first
                collector.start_refresh()
        progress("ondeck")
        if collector is not None and collector.plex_ready():
            replacements += await collector.watchlists(result.failed, fresh=fresh, reuse=reuse)
        progress("watchlists")
        if self._lists is not None:
            try:
                replacements += await self._lists()
            except CacherrError as exc:
                result.failed["lists"] = exc.message
        progress("lists")
        replacements += await self._pinned(result.failed)
        progress("pinned")

        now = engine.clock()
        if dry_run:
            replaced = {(r.source, r.user_id) for r in replacements}
            # The engine's index mirrors the store (every commit updates it): no database read.
            current = engine.index
            claims = [c for path in current.claimed_paths for c in current.claims(path)
                      if (c.source, c.user_id) not in replaced]  # fmt: skip
            claims += [c for r in replacements for c in r.claims]
            index = Index.build(claims, current.managed_files.values())
            progress("retention")
            plan, submitted = await engine.plan(None, index=index, dry_run=True)
            result.plan = dry_run_rows(plan)
            result.cached = len(plan.of_kind("cache"))
            result.restored = len(plan.of_kind("restore"))
            result.evicted = len(plan.of_kind("evict"))
        else:
            for rep in replacements:
                # One commit per user: a journal step waiting for the writer gets it between
                # them, where all users' claims in one commit could hold it for a while.
                await store.replace(rep.source, rep.user_id, rep.claims, now=now)
            await store.expire(now)
            progress("retention")
            await engine.recover_stranded()
            await engine.load()
            plan, submitted = await engine.plan(None)
            result.cached, result.restored = submitted.cached, submitted.restored
            result.evicted, result.held = submitted.evicted, len(submitted.held)
        progress("plan")
        result.unfit, result.dropped = len(plan.unfit), len(plan.dropped)
        result.duration_s = round(time.monotonic() - started, 3)
        if not dry_run:
            self.last, self.last_finished_at = result, self._engine.clock()
            message = (
                f"Sweep finished in {result.duration_s:.1f} s: {result.cached} to cache, "
                f"{result.restored} back to the array, {result.evicted} evicted, "
                f"{result.unfit} unfit"
            )
            self._bus.publish(events.CycleComplete(
                cached=result.cached, restored=result.restored, evicted=result.evicted,
                unfit=result.unfit, duration_s=result.duration_s, failed=dict(result.failed),
                message=message,
            ))  # fmt: skip
            log.info("%s", message)
        return result

    async def _pinned(self, failed: dict[str, str]) -> list[Replacement]:
        if self._pins is None:
            return []
        out = []
        for pin in await self._engine.store.pins():
            try:
                _, claims = await self._pins.resolve(pin.rating_key)
            except CacherrError as exc:
                failed[f"pin {pin.rating_key}"] = exc.message
                continue
            out.append(Replacement("pinned", pin_holder(pin.rating_key), claims))
        return out


def dry_run_rows(plan: Any) -> list[dict[str, Any]]:
    """The plan as the API shows it (ordered actions, each with its reason)."""
    return dry_run(plan)
