"""The aiohttp app factory: wires the parts, each resource owned by a cleanup context."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from cacherr import keys
from cacherr.activity import ActivityLog, LogForwarder
from cacherr.api import setup_routes
from cacherr.api.auth import auth_middleware
from cacherr.api.deadline import body_deadline_middleware
from cacherr.api.envelope import envelope_middleware
from cacherr.checks import check_array_disks, check_paths, fatal, refused_mapping_change
from cacherr.claims import ClaimStore
from cacherr.claims.queries import Glance
from cacherr.config.models import Settings
from cacherr.config.store import ConfigStore
from cacherr.config.watch import ConfigWatcher
from cacherr.db import DB_NAME, Database, DatabaseError
from cacherr.errors import Unavailable
from cacherr.events import EventBus
from cacherr.files.paths import check_mappings, create_share_folders
from cacherr.live import LiveOperations
from cacherr.lock import InstanceLock
from cacherr.metrics import setup_metrics
from cacherr.notify import Notifier
from cacherr.plex.gateway import PlexGateway
from cacherr.plex.identity import client_identifier
from cacherr.plex.library import Library
from cacherr.plex.status import PlexStatus
from cacherr.plex.users import UserDirectory
from cacherr.realtime import REALTIME, Realtime
from cacherr.security import setup_code
from cacherr.security.ratelimit import FailureLimiter
from cacherr.security.sessions import SessionStore
from cacherr.sources.lists import (
    Fetcher,
    ListRepository,
    ListScheduler,
    ListService,
    PlexLists,
    size_lookup,
)
from cacherr.sources.playback import PlaybackStream
from cacherr.sources.plex_socket import NotificationSocket
from cacherr.sources.sessions import SessionPoller
from cacherr.sources.snapshots import provider_from_gateway
from cacherr.usage import UsageSampler, measure
from cacherr.wiring import files_context, reactor_context, sweep_context

log = logging.getLogger(__name__)


def web_root() -> Path:
    """The page's folder: inside the installed package, else the source tree's `web/`."""
    packaged = Path(__file__).parent / "web"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "web"


async def _instance_lock(app: web.Application) -> AsyncIterator[None]:
    lock = InstanceLock(app[keys.CONFIG].config_dir)
    lock.acquire()
    yield
    lock.release()


async def _preflight(app: web.Application) -> AsyncIterator[None]:
    # Refuse to start on set-ups that lose data (a union array root, a cache folder inside
    # the container); the rest is reported by `cacherr check` and the page.
    settings = app[keys.CONFIG].current
    for said in await asyncio.to_thread(create_share_folders, settings.paths.mappings):
        log.info("%s", said)
    problems = await asyncio.to_thread(check_mappings, settings.paths.mappings)
    app[keys.MAPPING_PROBLEMS] = problems  # the engine leaves these mappings out
    results = await asyncio.to_thread(check_paths, settings, problems=problems)
    results += await asyncio.to_thread(check_array_disks, settings)  # the per-disk limits
    for result in results:
        if not result.ok:
            log.warning("%s", result.line())
    refused = fatal(results)
    if refused:
        raise Unavailable(
            "refusing to start, this set-up would lose data:\n"
            + "\n".join(r.line() for r in refused)
        )
    app[keys.CONFIG].add_check(refused_mapping_change)  # saves and reloads: the same refusals
    yield


async def _database(app: web.Application) -> AsyncIterator[None]:
    try:
        db = await Database.open_or_replace(app[keys.CONFIG].config_dir / DB_NAME)
    except DatabaseError as exc:
        raise Unavailable(str(exc)) from None
    app[keys.DB] = db
    app[keys.GLANCE] = Glance(db)
    app[keys.SESSIONS] = SessionStore(db)
    yield
    await db.close()


async def _setup_code(app: web.Application) -> AsyncIterator[None]:
    # A fresh install's one-time code for choosing the login, printed in the log.
    store = app[keys.CONFIG]
    await asyncio.to_thread(setup_code.announce, store.config_dir, store.current.web)
    yield


async def _config_watcher(app: web.Application) -> AsyncIterator[None]:
    watcher = ConfigWatcher(app[keys.CONFIG], app[keys.BUS])
    app[keys.CONFIG].listen_on(asyncio.get_running_loop())  # settings listeners run here
    await watcher.start()
    yield
    await watcher.close()
    app[keys.CONFIG].listen_on(None)


async def _realtime(app: web.Application) -> AsyncIterator[None]:
    realtime = app[REALTIME]
    await realtime.start()
    yield
    await realtime.close()


async def _plex(app: web.Application) -> AsyncIterator[None]:
    # Before the session poller, which asks Plex through it. Connects in the background.
    store = app[keys.CONFIG]
    client_id = await asyncio.to_thread(client_identifier, store.config_dir)
    gateway = PlexGateway(
        lambda: store.current.plex,
        app[keys.PLEX_STATUS],
        app[keys.BUS],
        client_id=client_id,
        on_server_id=app[keys.PLAYBACK].know_server,
    )
    store.on_change(lambda old, new: gateway.reconfigure() if old.plex != new.plex else None)
    app[keys.PLEX] = gateway
    app[keys.PLEX_USERS] = UserDirectory(
        gateway, app[keys.DB], lambda: store.current, on_owner=app[keys.PLAYBACK].know_owner
    )
    app[keys.PLEX_LIBRARY] = Library(gateway, lambda: store.current)
    await gateway.start()
    yield
    await gateway.close()


async def _session_poller(app: web.Application) -> AsyncIterator[None]:
    # After the Plex gateway's context; each tick it polls only while plex.url, plex.token
    # and sessions.enabled are set (hot reload).
    store = app[keys.CONFIG]

    def plex_configured() -> bool:
        plex = store.current.plex
        return bool(plex.url and plex.token and plex.token.get_secret_value())

    poller = SessionPoller(
        provider_from_gateway(app[keys.PLEX]),
        app[keys.PLAYBACK],
        app[keys.BUS],
        config=lambda: store.current.sessions,
        should_poll=plex_configured,
        clock=app[keys.CLOCK],
    )
    app[keys.SESSION_POLLER] = poller
    await poller.start()
    # Plex's notification socket wakes the poller the moment a session changes (no setting:
    # it listens whenever Plex is configured) and tells the stream which server is ours.
    socket = NotificationSocket(
        lambda: store.current.plex, poller.wake, on_server_id=app[keys.PLAYBACK].know_server
    )
    poller.socket_healthy = lambda: socket.healthy
    store.on_change(lambda old, new: socket.reconfigure() if old.plex != new.plex else None)
    app[keys.PLEX_SOCKET] = socket
    await socket.start()
    yield
    await socket.close()
    await poller.close()


async def _lists(app: web.Application) -> AsyncIterator[None]:
    # After the database and the Plex gateway; one HTTP session for every list provider.
    store, db = app[keys.CONFIG], app[keys.DB]
    fetcher = Fetcher()
    await fetcher.start()

    def settings() -> Settings:
        return store.current

    plex = PlexLists(app[keys.PLEX], app[keys.PLEX_LIBRARY], app[keys.PLEX_USERS], settings)
    service = ListService(
        ListRepository(db), ClaimStore(db), fetcher, plex, settings, sizes=size_lookup(settings)
    )
    service.on_status = lambda name, status: app[keys.BUS].publish(status.as_event())
    scheduler = ListScheduler(service)
    app[keys.LISTS] = service
    app[keys.LIST_SCHEDULER] = scheduler
    await scheduler.start()
    yield
    await scheduler.close()
    await fetcher.close()


async def _notifier(app: web.Application) -> AsyncIterator[None]:
    notifier = Notifier(app[keys.CONFIG], app[keys.BUS])
    app[keys.NOTIFIER] = notifier
    await notifier.start()
    yield
    await notifier.close()


async def _page_state(app: web.Application) -> AsyncIterator[None]:
    # The activity log (with WARNING+ log records as `log` events), the usage history
    # sampler, and what a page connecting mid-copy is first told.
    store, bus, db = app[keys.CONFIG], app[keys.BUS], app[keys.DB]
    activity = ActivityLog(db, bus)
    app[keys.ACTIVITY] = activity
    await activity.start()
    forwarder = LogForwarder(bus, asyncio.get_running_loop(), lambda: store.current)
    logging.getLogger("cacherr").addHandler(forwarder)
    sampler = UsageSampler(db, bus, lambda: store.current)
    app[keys.USAGE] = sampler
    await sampler.start()
    realtime = app[REALTIME]

    async def usage_snapshot() -> dict[str, object]:
        return (await measure(db, store.current)).data

    async def operations_snapshot() -> list[dict[str, object]]:
        return app[keys.LIVE_OPERATIONS].active()

    realtime.add_snapshot("stats", usage_snapshot)
    realtime.add_snapshot("operations", operations_snapshot)
    yield
    logging.getLogger("cacherr").removeHandler(forwarder)
    await sampler.close()
    await activity.close()


async def _index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(web_root() / "index.html")


async def _frozen_heap(app: web.Application) -> AsyncIterator[None]:
    # Start-up leaves tens of thousands of long-lived objects (modules, models, routes). Once
    # they are frozen, the collector's full passes skip them: such a pass otherwise holds the
    # event loop for ~20 ms under load. Garbage is collected first so none of it is kept.
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()


async def _started(app: web.Application) -> None:
    app[keys.STARTED_AT] = keys.now(app)


def create_app(store: ConfigStore) -> web.Application:
    """Build the whole daemon around an opened configuration store."""
    app = web.Application(
        middlewares=[envelope_middleware, auth_middleware, body_deadline_middleware]
    )
    app[keys.CONFIG] = store
    app[keys.BUS] = EventBus()
    app[keys.PLEX_STATUS] = PlexStatus("connecting" if store.current.plex.url else "not_configured")
    app[keys.CLOCK] = time.time  # a test sets its own before start-up
    app[keys.LOGIN_LIMITER] = FailureLimiter()
    app[keys.PLAYBACK] = PlaybackStream(app[keys.BUS])
    app[keys.LIVE_OPERATIONS] = LiveOperations(app[keys.BUS])
    app.cleanup_ctx.extend([_instance_lock, _preflight, _database, _config_watcher, _realtime])
    app.cleanup_ctx.append(_setup_code)
    app.cleanup_ctx.append(_plex)
    app.cleanup_ctx.append(_session_poller)
    app.cleanup_ctx.append(_notifier)
    app.cleanup_ctx.append(_lists)
    app.cleanup_ctx.append(_page_state)
    # Recovery, engine and executor → playback reactions → pins and the sweep.
    app.cleanup_ctx.extend([files_context, reactor_context, sweep_context])
    app[REALTIME] = Realtime(app)
    setup_metrics(app)
    app.cleanup_ctx.append(_frozen_heap)  # last: after everything start-up builds
    app.on_startup.append(_started)
    setup_routes(app)
    app.router.add_get("/", _index, name="index")
    app.router.add_static("/static/", web_root(), name="static")
    return app
