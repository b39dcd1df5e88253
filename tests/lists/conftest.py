"""Fixtures: one local server playing Trakt, TMDb, IMDb and feed hosts, a simulated Plex
whose titles carry real-looking ids, and the lists service wired to both by settings.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from cacherr.claims import Claim, ClaimStore
from cacherr.config.models import Settings
from cacherr.db import Database
from cacherr.events import EventBus
from cacherr.fakeplex import FakePlexServer, Movie, Show, World, start_fake_plex
from cacherr.plex.gateway import PlexGateway
from cacherr.plex.library import Library
from cacherr.plex.status import PlexStatus
from cacherr.plex.users import UserDirectory
from cacherr.sources.lists import (
    Fetcher,
    FillRoom,
    ListRepository,
    ListService,
    PlexLists,
    size_lookup,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Seen:
    """One request the fake providers received."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class Providers:
    """Routes by path (set per test) and every request received."""

    url: str = ""
    routes: dict[str, Handler] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    def json(self, path: str, data: Any, *, pages: list[Any] | None = None,
             trakt_pages: bool = False) -> None:  # fmt: skip
        """Serve `data` at `path`; with `pages`, page N (`?page=`) of a paginated answer."""

        async def handler(request: web.Request) -> web.Response:
            if pages is None:
                return web.json_response(data)
            page = int(request.query.get("page", "1"))
            body = pages[page - 1] if page <= len(pages) else []
            headers = {}
            if trakt_pages:
                headers = {"X-Pagination-Page": str(page), "X-Pagination-Limit": "100",
                           "X-Pagination-Page-Count": str(len(pages)),
                           "X-Pagination-Item-Count": str(sum(len(p) for p in pages))}  # fmt: skip
            return web.json_response(body, headers=headers)

        self.routes[path] = handler

    def text(self, path: str, text: str, *, content_type: str = "text/plain",
             status: int = 200, headers: dict[str, str] | None = None) -> None:  # fmt: skip
        """Serve a fixed body."""

        async def handler(request: web.Request) -> web.Response:
            return web.Response(text=text, content_type=content_type, status=status,
                                headers=headers)  # fmt: skip

        self.routes[path] = handler

    def slow(self, path: str, delay_s: float) -> None:
        """Answer only after `delay_s`."""

        async def handler(request: web.Request) -> web.Response:
            await asyncio.sleep(delay_s)
            return web.json_response([])

        self.routes[path] = handler

    def last(self, path: str) -> Seen:
        """The last request to `path`."""
        return [s for s in self.seen if s.path == path][-1]


@pytest.fixture
async def providers(
    aiohttp_server: Callable[[web.Application], Awaitable[TestServer]],
) -> Providers:
    state = Providers()

    async def dispatch(request: web.Request) -> web.StreamResponse:
        state.seen.append(Seen(request.path, dict(request.query), dict(request.headers)))
        handler = state.routes.get(request.path)
        if handler is None:
            return web.Response(status=404, text="not found")
        return await handler(request)

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", dispatch)
    server = await aiohttp_server(app)
    state.url = str(server.make_url("")).rstrip("/")
    return state


# --- the library ------------------------------------------------------------------------

INCEPTION = ["imdb://tt1375666", "tmdb://27205"]
HEAT = ["imdb://tt0113277", "tmdb://949"]
ARRIVAL = ["imdb://tt2543164", "tmdb://329865"]
DUNE = ["imdb://tt1160419", "tmdb://438631"]
EXPANSE = ["imdb://tt3230854", "tmdb://63639", "tvdb://280619"]
GOT = ["imdb://tt0944947", "tmdb://1399", "tvdb://121361"]


@dataclass
class Library_:
    """The simulated titles by name."""

    movies: dict[str, Movie]
    shows: dict[str, Show]


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = World(array_root=tmp_path / "array", plex_root="/data", file_bytes=100)
    w.add_movie("Inception", 2010, guids=INCEPTION, size=1000)
    w.add_movie("Heat", 1995, guids=HEAT, size=2000)
    w.add_movie("Arrival", 2016, guids=ARRIVAL, size=3000)
    w.add_movie("Dune", 2021, guids=DUNE, size=4000)
    # A movie sharing TMDb's number 1399 with the show: TMDb numbers kinds apart.
    w.add_movie("Collide", 2016, guids=["imdb://tt2126235", "tmdb://1399"])
    # Two local films called "Solaris": the title fallback must call that ambiguous.
    w.add_movie("Solaris", 2002, guids=["imdb://tt0307479"])
    w.add_movie("Solaris", 2002, library="Movies", guids=["imdb://tt9999999"])
    # Only known to Plex by its title (no ids): matchable by the fallback alone.
    w.add_movie("Home Video", 2019, guids=[])
    expanse = w.add_show("The Expanse", seasons={1: 4}, year=2015)
    expanse.guids = list(EXPANSE)
    got = w.add_show("Game of Thrones", seasons={1: 3}, year=2011)
    got.guids = list(GOT)
    w.add_user("alice", kind="home")
    return w


@pytest.fixture
async def fake_plex(world: World) -> AsyncIterator[FakePlexServer]:
    server = await start_fake_plex(world)
    yield server
    await server.close()


class Box:
    """The settings in force, built from a plain document; a test edits its lists."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.settings = Settings.model_validate(document)

    def __call__(self) -> Settings:
        return self.settings

    def lists(self, *definitions: dict[str, Any], **values: Any) -> None:
        """Replace the list definitions (and any other `lists` setting)."""
        self.document["lists"].update(values, definitions=list(definitions))
        self.settings = Settings.model_validate(self.document)


def settings_for(fake: FakePlexServer, world: World, providers: Providers,
                 tmp_path: Path) -> dict[str, Any]:  # fmt: skip
    """A settings document pointing Plex and every list provider at the local fakes."""
    (tmp_path / "cache").mkdir(exist_ok=True)
    return {
        "plex": {"url": fake.url, "token": world.owner.token, "plextv_url": fake.plextv_url,
                 "discover_url": fake.discover_url, "metadata_url": fake.metadata_url,
                 "plextv_min_interval_ms": 0, "timeout_s": 2, "retries": 0},
        "paths": {"mappings": [{"name": "media", "plex": "/data",
                                "array": str(tmp_path / "array"),
                                "cache": str(tmp_path / "cache")}]},
        "lists": {"trakt_client_id": "trakt-client-0123", "tmdb_api_key": "0123456789abcdef",
                  "trakt_url": providers.url, "tmdb_url": providers.url,
                  "imdb_url": providers.url},
        "sweep": {"on_start": False},
    }  # fmt: skip


@pytest.fixture
def box(fake_plex: FakePlexServer, world: World, providers: Providers, tmp_path: Path) -> Box:
    return Box(settings_for(fake_plex, world, providers, tmp_path))


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "cacherr.db")
    yield database
    await database.close()


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    f = Fetcher(timeout_s=1.0)
    await f.start()
    yield f
    await f.close()


@pytest.fixture
async def gateway(box: Box) -> AsyncIterator[PlexGateway]:
    gw = PlexGateway(lambda: box().plex, PlexStatus("connecting"), EventBus(),
                     backoff_base_s=0.01, probe_min_s=0.05, probe_max_s=0.2)  # fmt: skip
    await gw.start()
    await gw.wait_settled(5)
    yield gw
    await gw.close()


@pytest.fixture
def claims(db: Database) -> ClaimStore:
    return ClaimStore(db)


ServiceFactory = Callable[..., Awaitable[ListService]]


@pytest.fixture
def make_service(
    db: Database, gateway: PlexGateway, box: Box, fetcher: Fetcher, claims: ClaimStore
) -> ServiceFactory:
    """A new ListService on the same database each call (as after a restart)."""

    async def make(**options: Any) -> ListService:
        users = UserDirectory(gateway, db, box)
        await users.refresh()
        plex = PlexLists(gateway, Library(gateway, box), users, box)
        return ListService(ListRepository(db), claims, fetcher, plex, box,
                           sizes=size_lookup(box), **options)  # fmt: skip

    return make


@pytest.fixture
async def service(make_service: ServiceFactory) -> ListService:
    return await make_service()


async def list_claims(service: ListService, room: FillRoom | None = None) -> list[Claim]:
    """Every enabled list's claims as the sweep builds them (`claims_by_holder`), in list order."""
    return [c for claims in (await service.claims_by_holder(room)).values() for c in claims]
