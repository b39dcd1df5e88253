"""The Plex Media Server endpoints of Cacherr's simulated Plex.

Every answer is computed for the user whose token made the request: visible
libraries, viewCount / viewOffset and On Deck are all per token.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from . import render
from .keys import WORLD, container_window, require_owner, require_user
from .model import Episode, Item, Library, Movie, Season, Show, User, leaves
from .nodes import Attr, Node, container, respond
from .views import can_see, library_of, on_deck, visible_libraries
from .world import World

LIBRARY_IDENTIFIER = "com.plexapp.plugins.library"
SEARCH_TYPES = {1: "movie", 2: "show", 3: "season", 4: "episode"}
SECTION_LIBTYPES = {"movie": ["movie"], "show": ["show", "season", "episode"]}


def _page(request: web.Request, items: list[Node], **attrs: Attr) -> Node:
    """A container holding one page (X-Plex-Container-Start/Size) of ``items``."""
    start, size = container_window(request)
    chunk = items[start:] if size is None else items[start : start + size]
    return container(
        size=len(chunk),
        totalSize=len(items),
        offset=start,
        allowSync=True,
        identifier=LIBRARY_IDENTIFIER,
        **attrs,
    ).add(*chunk)


def _lib_attrs(lib: Library) -> dict[str, Attr]:
    return {
        "librarySectionID": lib.id,
        "librarySectionTitle": lib.title,
        "librarySectionUUID": lib.uuid,
    }


def _section(request: web.Request, user: User) -> Library:
    world = request.app[WORLD]
    try:
        lib = world.libraries[int(request.match_info["id"])]
    except (KeyError, ValueError):
        raise web.HTTPNotFound() from None
    if lib not in visible_libraries(world, user):
        # A restricted Home user is refused (401) rather than told the section is not there.
        raise web.HTTPUnauthorized() if user.kind == "home" else web.HTTPNotFound()
    return lib


def _item(request: web.Request, user: User, raw: str) -> Item:
    world = request.app[WORLD]
    found = world.item(int(raw)) if raw.isdigit() else None
    if found is None or not can_see(world, user, found):
        raise web.HTTPNotFound()
    return found


async def root(request: web.Request) -> web.Response:
    """``/``: server identity and capabilities."""
    require_user(request)
    world = request.app[WORLD]
    return respond(
        request,
        container(
            size=0,
            allowSync=True,
            friendlyName=world.server_name,
            machineIdentifier=world.machine_identifier,
            version=world.version,
            platform="Linux",
            platformVersion="6.1",
            multiuser=True,
            myPlex=True,
            myPlexSigninState="ok",
            myPlexMappingState="mapped",
            myPlexUsername=world.owner.email,
            myPlexSubscription=True,
            transcoderActiveVideoSessions=len(world.sessions),
            updatedAt=world.now(),
        ),
    )


async def identity(request: web.Request) -> web.Response:
    """``/identity``: unauthenticated, like the real server."""
    world = request.app[WORLD]
    return respond(
        request,
        container(
            size=0, claimed=True, version=world.version, machineIdentifier=world.machine_identifier
        ),
    )


async def library(request: web.Request) -> web.Response:
    """``/library``."""
    require_user(request)
    return respond(
        request,
        container(
            size=0,
            allowSync=False,
            identifier=LIBRARY_IDENTIFIER,
            title1="Plex Library",
            mediaTagVersion=1,
        ),
    )


async def sections(request: web.Request) -> web.Response:
    """``/library/sections``: the libraries this token may see."""
    user, world = require_user(request), request.app[WORLD]
    libs = visible_libraries(world, user)
    return respond(
        request,
        container(size=len(libs), allowSync=False, title1="Plex Library").add(
            *(render.section(world, lib) for lib in libs)
        ),
    )


def _section_items(world: World, lib: Library, libtype: str) -> list[Item]:
    return [
        it
        for it in world.items.values()
        if render_libtype(it) == libtype and library_of(it).id == lib.id
    ]


def render_libtype(it: Item) -> str:
    """Plex's ``type`` string of an item."""
    if isinstance(it, Movie):
        return "movie"
    if isinstance(it, Show):
        return "show"
    if isinstance(it, Season):
        return "season"
    return "episode"


def _matches(it: Item, guid: str | None, title: str | None) -> bool:
    if guid is not None:
        own = [it.plex_guid] + (it.guids if isinstance(it, Movie | Show | Episode) else [])
        if guid not in own:
            return False
    if title is not None:
        return title.lower() in it.title.lower()
    return True


def _meta(lib: Library) -> Node:
    types = [
        Node(
            "Type",
            {
                "key": f"/library/sections/{lib.id}/all?type={code}",
                "type": t,
                "title": t.capitalize(),
                "active": t == lib.type,
            },
        )
        for code, t in SEARCH_TYPES.items()
        if t in SECTION_LIBTYPES[lib.type]
    ]
    return Node("Meta", {}, types, single=True)


async def section_all(request: web.Request) -> web.Response:
    """``/library/sections/{id}/all``: ``type=``, ``guid=`` and ``title=`` filters, paging."""
    user, world = require_user(request), request.app[WORLD]
    lib = _section(request, user)
    if lib.answer_delay_ms:
        await asyncio.sleep(lib.answer_delay_ms / 1000)
    raw_type = request.query.get("type")
    libtype = SEARCH_TYPES.get(int(raw_type), "") if raw_type else lib.type
    if libtype not in SECTION_LIBTYPES[lib.type]:
        raise web.HTTPBadRequest(text=f"type {raw_type} not in this section")
    with world.lock:
        items = sorted(_section_items(world, lib, libtype), key=_sort_key)
        items = [
            it
            for it in items
            if _matches(it, request.query.get("guid"), request.query.get("title"))
        ]
        nodes = [render.item(world, user, it) for it in items]
    page = _page(request, nodes, **_lib_attrs(lib), title1=lib.title, viewGroup=libtype)
    if request.query.get("includeMeta") == "1":
        page.add(_meta(lib))
    return respond(request, page)


def _sort_key(it: Item) -> tuple[str, int, int]:
    if isinstance(it, Episode):
        return (it.season.show.title.lower(), it.parent_index, it.index)
    if isinstance(it, Season):
        return (it.show.title.lower(), it.index, 0)
    return (it.title.lower(), 0, 0)


async def section_collections(request: web.Request) -> web.Response:
    """``/library/sections/{id}/collections``: none here (asked for filter metadata)."""
    user = require_user(request)
    lib = _section(request, user)
    return respond(request, _page(request, [], **_lib_attrs(lib)).add(Node("Meta", single=True)))


async def section_on_deck(request: web.Request) -> web.Response:
    """``/library/sections/{id}/onDeck``: hidden-from-home sections included."""
    user, world = require_user(request), request.app[WORLD]
    lib = _section(request, user)
    with world.lock:
        nodes = [render.item(world, user, it) for it in on_deck(world, user, [lib])]
    return respond(request, _page(request, nodes, **_lib_attrs(lib), mixedParents=True))


async def global_on_deck(request: web.Request) -> web.Response:
    """``/library/onDeck``: silently drops sections hidden from Home, as Plex does."""
    user, world = require_user(request), request.app[WORLD]
    with world.lock:
        libs = [lib for lib in visible_libraries(world, user) if not lib.hidden_from_home]
        nodes = [render.item(world, user, it) for it in on_deck(world, user, libs)]
    return respond(request, _page(request, nodes, mixedParents=True))


async def recently_added(request: web.Request) -> web.Response:
    """``/library/recentlyAdded`` (and per section): movies and episodes, newest first."""
    user, world = require_user(request), request.app[WORLD]
    libs = (
        [_section(request, user)] if "id" in request.match_info else visible_libraries(world, user)
    )
    with world.lock:
        items = [
            it
            for it in world.items.values()
            if isinstance(it, Movie | Episode) and library_of(it) in libs
        ]
        items.sort(key=lambda it: (-it.added_at, -it.rating_key))
        nodes = [render.item(world, user, it) for it in items]
    return respond(request, _page(request, nodes, mixedParents=True))


async def library_all(request: web.Request) -> web.Response:
    """``/library/all``: search across sections (``guid=``, ``title=``, ``type=``)."""
    user, world = require_user(request), request.app[WORLD]
    raw_type = request.query.get("type")
    with world.lock:
        items: list[Item] = []
        for lib in visible_libraries(world, user):
            libtype = SEARCH_TYPES.get(int(raw_type), "") if raw_type else lib.type
            items += _section_items(world, lib, libtype)
        items = [
            it
            for it in items
            if _matches(it, request.query.get("guid"), request.query.get("title"))
        ]
        nodes = [render.item(world, user, it) for it in sorted(items, key=_sort_key)]
    return respond(request, _page(request, nodes))


async def metadata(request: web.Request) -> web.Response:
    """``/library/metadata/{rk}`` (also comma-separated keys)."""
    user, world = require_user(request), request.app[WORLD]
    raw_key = request.match_info["rk"]
    if raw_key.isdigit() and int(raw_key) in world.extras:  # a trailer or a music track
        return respond(request, _page(request, [render.extra(world.extras[int(raw_key)])]))
    with world.lock:
        items = [_item(request, user, raw) for raw in raw_key.split(",")]
        nodes = [render.item(world, user, it) for it in items]
    lib = library_of(items[0])
    return respond(request, _page(request, nodes, **_lib_attrs(lib)))


def _under(request: web.Request, parent: Item, nodes: list[Node]) -> web.Response:
    """A page of `parent`'s children or leaves, with the parent's attributes."""
    return respond(
        request,
        _page(
            request,
            nodes,
            **_lib_attrs(library_of(parent)),
            key=str(parent.rating_key),
            parentRatingKey=parent.rating_key,
            parentTitle=parent.title,
        ),
    )


async def children(request: web.Request) -> web.Response:
    """``/library/metadata/{rk}/children``: seasons of a show, episodes of a season."""
    user, world = require_user(request), request.app[WORLD]
    with world.lock:
        parent = _item(request, user, request.match_info["rk"])
        kids: list[Item]
        if isinstance(parent, Show):
            kids = list(parent.seasons)
        elif isinstance(parent, Season):
            kids = list(parent.episodes)
        else:
            kids = []
        nodes = [render.item(world, user, it) for it in kids]
    return _under(request, parent, nodes)


async def all_leaves(request: web.Request) -> web.Response:
    """``/library/metadata/{rk}/allLeaves``: every episode of a show (or season)."""
    user, world = require_user(request), request.app[WORLD]
    with world.lock:
        parent = _item(request, user, request.match_info["rk"])
        nodes = [render.item(world, user, it) for it in leaves(parent)]
    return _under(request, parent, nodes)


async def sessions(request: web.Request) -> web.Response:
    """``/status/sessions``: the owner's token only; anyone else gets 401."""
    require_owner(request)
    world = request.app[WORLD]
    with world.lock:
        nodes = [render.session(world, s) for s in world.sessions.values()]
    return respond(request, container(size=len(nodes)).add(*nodes))


async def accounts(request: web.Request) -> web.Response:
    """``/accounts``: the server's view of every account (owner only)."""
    require_owner(request)
    world = request.app[WORLD]
    nodes = [
        Node(
            "Account",
            {
                "id": u.id,
                "key": f"/accounts/{u.id}",
                "name": u.title,
                "defaultAudioLanguage": "en",
                "autoSelectAudio": True,
                "defaultSubtitleLanguage": "en",
                "subtitleMode": 0,
                "thumb": f"https://plex.tv/users/{u.uuid}/avatar",
            },
        )
        for u in world.users
    ]
    return respond(
        request, container(size=len(nodes), identifier="com.plexapp.system.accounts").add(*nodes)
    )


def add_pms_routes(app: web.Application) -> None:
    """Register the PMS endpoints at the root of ``app``."""
    app.router.add_get("/", root)
    app.router.add_get("/identity", identity)
    app.router.add_get("/library", library)
    app.router.add_get("/library/", library)
    app.router.add_get("/library/sections", sections)
    app.router.add_get("/library/sections/", sections)
    app.router.add_get("/library/sections/{id}/all", section_all)
    app.router.add_get("/library/sections/{id}/collections", section_collections)
    app.router.add_get("/library/sections/{id}/onDeck", section_on_deck)
    app.router.add_get("/library/sections/{id}/recentlyAdded", recently_added)
    app.router.add_get("/library/onDeck", global_on_deck)
    app.router.add_get("/library/recentlyAdded", recently_added)
    app.router.add_get("/library/all", library_all)
    app.router.add_get("/library/metadata/{rk}", metadata)
    app.router.add_get("/library/metadata/{rk}/children", children)
    app.router.add_get("/library/metadata/{rk}/allLeaves", all_leaves)
    app.router.add_get("/status/sessions", sessions)
    app.router.add_get("/accounts", accounts)
