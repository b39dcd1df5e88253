"""The reactor's cleanup contexts, in dependency order after the database and Plex.

1. `files_context`: start-up recovery of unfinished journal rows (before anything else
   touches a file), the mapping checks (refusing to start on a data-loss set-up), the cache
   engine with the index of what is claimed and cached, and the executor;
2. `reactor_context`: the playback reaction worker, then a re-plan of everything, so work a
   restart interrupted resumes and nothing already cached is copied again;
3. `sweep_context`: pins and the reconcile sweep (its timer, and the start-up sweep), and
   the retention timer (files go back when their retention is over, between sweeps).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from cacherr import keys
from cacherr.errors import CacherrError
from cacherr.executor import Executor
from cacherr.files.mover import MoverGuard
from cacherr.files.paths import refused_mappings
from cacherr.files.protocol import recover
from cacherr.reactor.collect import Collector, Replacement
from cacherr.reactor.engine import CacheEngine
from cacherr.reactor.pins import Pins
from cacherr.reactor.reaction import Reactor
from cacherr.reactor.returns import ReturnTimer
from cacherr.reactor.sweep import Sweeper

log = logging.getLogger(__name__)


async def files_context(app: web.Application) -> AsyncIterator[None]:
    """Recovery, mapping checks, the engine and the executor."""
    store, db, bus = app[keys.CONFIG], app[keys.DB], app[keys.BUS]
    recovered = await recover(db)
    if recovered:
        log.warning("Start-up recovery finished %d interrupted operation(s)", len(recovered))
    settings = store.current
    # The app's preflight checked the mappings (and refused a set-up that loses data); the
    # ones it found a problem with stay out.
    problems = app[keys.MAPPING_PROBLEMS]
    refused = refused_mappings(problems)
    for problem in problems:
        log.warning("Path mapping not used: %s", problem)
    engine = CacheEngine(
        db,
        bus,
        lambda: store.current,
        config_dir=store.config_dir,
        clock=app[keys.CLOCK],
        sessions=app.get(keys.SESSION_POLLER),
        refused_mappings=refused,
    )
    executor = Executor(
        db,
        bus,
        lambda: store.current,
        mover=MoverGuard.from_config(settings.mover),
        on_finish=engine.on_operation,
    )
    engine.attach(executor)
    await engine.load()
    app[keys.CACHE_ENGINE] = engine
    app[keys.EXECUTOR] = executor
    await executor.start()
    engine.refresh_mover()
    yield
    await executor.close()
    await engine.close()


async def reactor_context(app: web.Application) -> AsyncIterator[None]:
    """The playback reaction worker; then everything is planned once (resuming work)."""
    store, engine = app[keys.CONFIG], app[keys.CACHE_ENGINE]
    reactor = Reactor(
        app[keys.PLAYBACK],
        engine,
        app.get(keys.PLEX_LIBRARY),
        app.get(keys.PLEX_USERS),
        lambda: store.current,
        app[keys.BUS],
        ready=lambda: app[keys.PLEX_STATUS].state in ("connected", "degraded"),
    )
    app[keys.REACTOR] = reactor
    await reactor.start()
    try:
        await engine.plan(None)
    except CacherrError as exc:
        log.warning("Start-up plan not made: %s", exc.message)
    yield
    await reactor.close()


async def sweep_context(app: web.Application) -> AsyncIterator[None]:
    """Pins and the reconcile sweep (timer, start-up sweep, on demand)."""
    store, engine = app[keys.CONFIG], app[keys.CACHE_ENGINE]
    gateway, library, users = (
        app.get(keys.PLEX),
        app.get(keys.PLEX_LIBRARY),
        app.get(keys.PLEX_USERS),
    )
    pins = collector = None
    if gateway is not None and library is not None:
        pins = Pins(engine, library, gateway, lambda: store.current)
        app[keys.PINS] = pins
        if users is not None:
            collector = Collector(engine, gateway, users, library, lambda: store.current)
    lists = app.get(keys.LISTS)
    lists_hook = None
    if lists is not None:
        lists.on_claims = lambda change: engine.commit(change, ())

        async def lists_hook() -> list[Replacement]:
            found = await lists.claims_by_holder()
            return [Replacement("list", holder, claims) for holder, claims in found.items()]

    sweeper = Sweeper(
        engine,
        lambda: store.current,
        app[keys.BUS],
        collector=collector,
        pins=pins,
        lists=lists_hook,
    )
    app[keys.SWEEPER] = sweeper
    app[keys.SWEEP_STATE] = sweeper.state
    returns = ReturnTimer(engine, lambda: store.current, sleep=app.get(keys.SLEEP, asyncio.sleep))
    await sweeper.start()
    await returns.start()
    yield
    await returns.close()
    await sweeper.close()
