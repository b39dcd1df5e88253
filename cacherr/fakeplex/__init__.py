"""Cacherr's simulated Plex: a Plex Media Server plus plex.tv, discover and RSS.

Used by the test-suite and by ``cacherr demo``. python-plexapi works against it
unmodified: Cacherr's settings ``plex.plextv_url``, ``discover_url`` and ``metadata_url``
send its plex.tv calls here (``cacherr.plex.transport`` rewrites them per session).
"""

from . import webhooks
from .app import create_app
from .faults import FaultRule, Faults, HostKind, RequestCounter
from .model import (
    CatalogEntry,
    Episode,
    Extra,
    Library,
    Media,
    Movie,
    Part,
    Season,
    Session,
    Show,
    User,
)
from .sample import demo_world
from .server import FakePlexServer, FakePlexThread, start_fake_plex
from .world import World

__all__ = [
    "CatalogEntry",
    "Episode",
    "Extra",
    "FakePlexServer",
    "FakePlexThread",
    "FaultRule",
    "Faults",
    "HostKind",
    "Library",
    "Media",
    "Movie",
    "Part",
    "RequestCounter",
    "Season",
    "Session",
    "Show",
    "User",
    "World",
    "create_app",
    "demo_world",
    "start_fake_plex",
    "webhooks",
]
