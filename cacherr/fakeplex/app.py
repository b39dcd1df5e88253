"""The aiohttp application of Cacherr's simulated Plex (PMS, plex.tv, discover, rss)."""

from __future__ import annotations

from aiohttp import web

from .faults import Faults, RequestCounter, fault_middleware
from .keys import COUNTER, FAULTS, WORLD
from .plextv_routes import add_plextv_routes
from .pms_routes import add_pms_routes
from .rss import add_rss_routes
from .websocket import add_websocket_routes
from .world import World


def create_app(
    world: World, faults: Faults | None = None, counter: RequestCounter | None = None
) -> web.Application:
    """Build the app; ``faults`` and ``counter`` are created when not given."""
    faults = faults or Faults()
    counter = counter or RequestCounter()
    app = web.Application(middlewares=[fault_middleware(faults, counter)])
    app[WORLD] = world
    app[FAULTS] = faults
    app[COUNTER] = counter
    add_plextv_routes(app)
    add_rss_routes(app)
    add_pms_routes(app)
    add_websocket_routes(app)
    return app
