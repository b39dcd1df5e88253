"""Typed keys of the app's shared state (never string keys or globals)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from cacherr.activity import ActivityLog
from cacherr.claims.queries import Glance
from cacherr.config.store import ConfigStore
from cacherr.db import Database
from cacherr.errors import Problem
from cacherr.events import EventBus
from cacherr.executor import Executor
from cacherr.live import LiveOperations
from cacherr.notify import Notifier
from cacherr.plex.gateway import PlexGateway
from cacherr.plex.library import Library
from cacherr.plex.status import PlexStatus
from cacherr.plex.users import UserDirectory
from cacherr.reactor import CacheEngine, Pins, Reactor, Sweeper
from cacherr.security.ratelimit import FailureLimiter
from cacherr.security.sessions import SessionStore
from cacherr.sources.lists import ListScheduler, ListService
from cacherr.sources.playback import PlaybackStream
from cacherr.sources.plex_socket import NotificationSocket
from cacherr.sources.sessions import SessionPoller
from cacherr.usage import UsageSampler

CONFIG = web.AppKey("config", ConfigStore)
BUS = web.AppKey("bus", EventBus)
DB = web.AppKey("db", Database)
GLANCE = web.AppKey("glance", Glance)
PLEX_STATUS = web.AppKey("plex_status", PlexStatus)
STARTED_AT = web.AppKey("started_at", float)
SESSIONS = web.AppKey("sessions", SessionStore)
LOGIN_LIMITER = web.AppKey("login_limiter", FailureLimiter)
PLAYBACK = web.AppKey("playback", PlaybackStream)
SESSION_POLLER = web.AppKey("session_poller", SessionPoller)
PLEX_SOCKET = web.AppKey("plex_socket", NotificationSocket)
NOTIFIER = web.AppKey("notifier", Notifier)
PLEX = web.AppKey("plex", PlexGateway)
PLEX_USERS = web.AppKey("plex_users", UserDirectory)
PLEX_LIBRARY = web.AppKey("plex_library", Library)
# The page's state: live operations from the bus, the activity log, the usage sampler.
LIVE_OPERATIONS = web.AppKey("live_operations", LiveOperations)
ACTIVITY = web.AppKey("activity", ActivityLog)
USAGE = web.AppKey("usage", UsageSampler)
# Hooks the reactor's wiring fills: the operation queue (queued operations, busy files for the
# audit) and its sweep state for `GET /api/status`; the API reads them only when set.
EXECUTOR = web.AppKey("executor", Executor)
SWEEP_STATE = web.AppKey[Callable[[], dict[str, Any]]]("sweep_state")
# The reactor (wired by cacherr.wiring): the cache engine between claims, planner and executor,
# the playback reaction worker, the sweep and pins. CLOCK is the app's wall clock, the one way
# to read the time (`now(app)`): handlers, the reactor, the planner, the sweep and the session
# poller all read it. `create_app` sets `time.time`; a test may set its own before start-up.
CLOCK = web.AppKey[Callable[[], float]]("clock")
# With CLOCK, how the reactor waits for a time on that clock (retention's returns).
SLEEP = web.AppKey[Callable[[float], Awaitable[None]]]("sleep")
CACHE_ENGINE = web.AppKey("cache_engine", CacheEngine)
REACTOR = web.AppKey("reactor", Reactor)
SWEEPER = web.AppKey("sweeper", Sweeper)
PINS = web.AppKey("pins", Pins)
# Import lists (cacherr.sources.lists): refresh, state and claims; the per-list scheduler.
LISTS = web.AppKey("lists", ListService)
LIST_SCHEDULER = web.AppKey("list_scheduler", ListScheduler)

# Problems the start-up check found with the path mappings (those mappings stay unused).
MAPPING_PROBLEMS: web.AppKey[list[Problem]] = web.AppKey("mapping_problems")


def now(app: web.Application) -> float:
    """Wall-clock seconds on the app's clock (`CLOCK`)."""
    return app[CLOCK]()
