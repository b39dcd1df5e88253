"""plex.tv, discover and metadata-provider endpoints of Cacherr's simulated Plex.

Served on the same port as the PMS, under the prefixes in :data:`.faults.PREFIXES`.
Tokens: the owner's token is the plex.tv account token; a home user's token is what
``/api/home/users/{id}/switch`` returns; a friend's server token is the
``accessToken`` of ``/api/servers/{machineId}/shared_servers``, withheld for invited
(shared) users as plex.tv does since 2026-03 (``world.shared_tokens`` is the legacy shape).
``/api/users`` lists every friend, also those without access to this server (no
``<Server>`` child of ours).
"""

from __future__ import annotations

from aiohttp import web

from . import render
from .faults import PREFIXES
from .keys import WORLD, container_window, require_owner, require_user
from .model import CatalogEntry, Movie, Show, User
from .nodes import Node, container, respond
from .world import World

MYPLEX = {"friendlyName": "myPlex", "identifier": "com.plexapp.plugins.myplex"}
DISCOVER_PAGE = 20
MAX_PAGE = 100


def _account(world: World, user: User) -> Node:
    """The ``<user>`` document of ``/api/v2/user`` (also the switch answer)."""
    home = [u for u in world.users if u.kind in ("owner", "home")]
    return Node(
        "user",
        {
            "id": user.account_id,
            "uuid": user.uuid,
            "username": user.username,
            "title": user.title,
            "email": user.email,
            "friendlyName": user.title,
            "locale": "en",
            "confirmed": True,
            "joinedAt": 1_600_000_000,
            "emailOnlyAuth": False,
            "hasPassword": user.kind != "home",
            "protected": False,
            "thumb": f"https://plex.tv/users/{user.uuid}/avatar",
            "authToken": user.token,
            "authenticationToken": user.token,
            "mailingListStatus": "active",
            "mailingListActive": False,
            "scrobbleTypes": "1,4",
            "country": "US",
            "restricted": user.restricted,
            "anonymous": None,
            "home": user.kind in ("owner", "home"),
            "guest": False,
            "homeSize": len(home),
            "homeAdmin": user.kind == "owner",
            "maxHomeSize": 15,
            "experimentalFeatures": False,
            "twoFactorEnabled": False,
            "backupCodesCreated": False,
        },
    ).add(
        Node(
            "subscription",
            {
                "active": user.kind == "owner",
                "subscribedAt": "2020-01-01 00:00:00 UTC",
                "status": "Active" if user.kind == "owner" else "Inactive",
                "paymentService": "",
                "plan": "lifetime",
            },
            [Node("features", {}, [Node("feature", {"id": "webhooks"})])],
            single=True,
        ),
        Node(
            "profile",
            {
                "autoSelectAudio": True,
                "defaultAudioLanguage": "en",
                "defaultSubtitleLanguage": "en",
                "autoSelectSubtitle": 0,
                "defaultSubtitleAccessibility": 0,
                "defaultSubtitleForces": 0,
            },
            single=True,
        ),
        Node("entitlements", {"all": True}, single=True),
        Node("roles", {}, [Node("role", {"id": "plexpass"})], single=True),
    )


async def account(request: web.Request) -> web.Response:
    """``/api/v2/user``: the token's own account."""
    user = require_user(request)
    return respond(request, _account(request.app[WORLD], user))


def _server_share(world: World, user: User) -> Node:
    libs = (
        world.libraries.values()
        if user.library_ids is None
        else [lib for lib in world.libraries.values() if lib.id in user.library_ids]
    )
    return Node(
        "Server",
        {
            "id": user.id * 10,
            "serverId": 1,
            "machineIdentifier": world.machine_identifier,
            "name": world.server_name,
            "lastSeenAt": world.now(),
            "numLibraries": len(list(libs)),
            "allLibraries": user.library_ids is None,
            "owned": True,
            "pending": False,
        },
    )


async def users(request: web.Request) -> web.Response:
    """``/api/users/``: every friend and home member, also friends without access here."""
    require_owner(request)
    world = request.app[WORLD]
    nodes = [
        Node(
            "User",
            {
                "id": u.id,
                "title": u.title,
                "username": u.username,
                "email": u.email,
                "recommendationsPlaylistId": "",
                "thumb": f"https://plex.tv/users/{u.uuid}/avatar",
                "protected": False,
                "home": u.kind == "home",
                "allowTuners": 0,
                "allowSync": False,
                "allowCameraUpload": False,
                "allowChannels": False,
                "allowSubtitleAdmin": False,
                "filterAll": "",
                "filterMovies": "",
                "filterMusic": "",
                "filterPhotos": "",
                "filterTelevision": "",
                "restricted": u.restricted,
            },
            [_server_share(world, u)] if u.shares_server else [],
        )
        for u in world.users
        if u.kind != "owner"
    ]
    return respond(
        request,
        container(
            **MYPLEX,
            machineIdentifier=world.machine_identifier,
            totalSize=len(nodes),
            size=len(nodes),
        ).add(*nodes),
    )


def _home_user(u: User) -> Node:
    return Node(
        "User",
        {
            "id": u.account_id,
            "uuid": u.uuid,
            "admin": u.kind == "owner",
            "guest": False,
            "restricted": u.restricted,
            "protected": False,
            "hasPassword": u.kind == "owner",
            "title": u.title,
            "username": u.username,
            "email": u.email,
            "thumb": f"https://plex.tv/users/{u.uuid}/avatar",
        },
    )


async def home_users(request: web.Request) -> web.Response:
    """``/api/home/users``: the Plex Home (owner and managed members)."""
    user = require_user(request)
    if user.kind == "shared":
        raise web.HTTPUnauthorized(text="not a home member")
    world = request.app[WORLD]
    nodes = [_home_user(u) for u in world.users if u.kind in ("owner", "home")]
    return respond(request, container(**MYPLEX, size=len(nodes)).add(*nodes))


async def switch_home_user(request: web.Request) -> web.Response:
    """``POST /api/home/users/{id}/switch``: a home member's token."""
    caller = require_user(request)
    if caller.kind == "shared":
        raise web.HTTPUnauthorized(text="not a home member")
    world = request.app[WORLD]
    target = next((u for u in world.users if str(u.id) == request.match_info["id"]), None)
    if target is None or target.kind == "shared":
        raise web.HTTPNotFound(text="no such home user")
    return respond(request, _account(world, target), status=201)


async def shared_servers(request: web.Request) -> web.Response:
    """``/api/servers/{machineId}/shared_servers``: one entry with an accessToken per user."""
    require_owner(request)
    world = request.app[WORLD]
    if request.match_info["machine_id"] != world.machine_identifier:
        raise web.HTTPNotFound(text="unknown server")
    nodes = []
    for u in world.users:
        if u.kind == "owner" or not u.shares_server:
            continue
        libs = [
            lib
            for lib in world.libraries.values()
            if u.library_ids is None or lib.id in u.library_ids
        ]
        nodes.append(
            Node(
                "SharedServer",
                {
                    "id": u.id * 10,
                    "username": u.username or u.title,
                    "email": u.email,
                    "userID": u.id,
                    "accessToken": world.server_token_of(u),
                    "name": world.server_name,
                    "acceptedAt": 1_600_000_000,
                    "invitedAt": 1_600_000_000,
                    "allowSync": False,
                    "allowCameraUpload": False,
                    "allowChannels": False,
                    "allowTuners": 0,
                    "allowSubtitleAdmin": False,
                    "owned": False,
                    "allLibraries": u.library_ids is None,
                    "filterAll": "",
                    "filterMovies": "",
                    "filterMusic": "",
                    "filterPhotos": "",
                    "filterTelevision": "",
                },
                [
                    Node(
                        "Section",
                        {
                            "id": lib.id * 100,
                            "key": lib.id,
                            "title": lib.title,
                            "type": lib.type,
                            "shared": True,
                        },
                    )
                    for lib in libs
                ],
            )
        )
    return respond(
        request,
        container(**MYPLEX, machineIdentifier=world.machine_identifier, size=len(nodes)).add(
            *nodes
        ),
    )


async def resources(request: web.Request) -> web.Response:
    """``/api/v2/resources``: the one server, reachable at this very host."""
    user = require_user(request)
    world = request.app[WORLD]
    url = f"{request.scheme}://{request.host}"
    conn = Node(
        "connection",
        {
            "protocol": request.scheme,
            "address": request.url.host,
            "port": request.url.port,
            "uri": url,
            "local": True,
            "relay": False,
            "IPv6": False,
        },
    )
    res = Node(
        "resource",
        {
            "name": world.server_name,
            "product": "Plex Media Server",
            "productVersion": world.version,
            "platform": "Linux",
            "platformVersion": "6.1",
            "device": "PC",
            "clientIdentifier": world.machine_identifier,
            "createdAt": "2020-01-01T00:00:00Z",
            "lastSeenAt": "2024-01-01T00:00:00Z",
            "provides": "server",
            "ownerId": None if user.kind == "owner" else world.owner.account_id,
            "owned": user.kind == "owner",
            "accessToken": user.token,
            "publicAddress": "127.0.0.1",
            "httpsRequired": False,
            "synced": False,
            "relay": False,
            "dnsRebindingProtection": False,
            "natLoopbackSupported": False,
            "publicAddressMatches": True,
            "presence": True,
            "home": user.kind != "shared",
        },
        [conn],
    )
    return respond(request, Node("MediaContainer", {"size": 1}, [res]))


def _watch_entry(world: World, guid: str) -> Movie | Show | CatalogEntry:
    found = world.find_guid(guid)
    if found is not None:
        return found
    return CatalogEntry(
        plex_guid=guid,
        title=guid.rsplit("/", 1)[-1],
        type="show" if guid.startswith("plex://show/") else "movie",
    )


async def watchlist(request: web.Request) -> web.Response:
    """Discover's ``/library/sections/watchlist/{filter}``: pages (20 items unless a size is
    asked) of items that carry only their plex:// guid (no external ids, no watchlistedAt)."""
    user, world = require_user(request), request.app[WORLD]
    wanted = {"1": "movie", "2": "show"}.get(request.query.get("type", ""))
    with world.lock:
        nodes = [render.discover_item(world, _watch_entry(world, g)) for g in user.watchlist]
    nodes = [n for n in nodes if wanted is None or n.attrs["type"] == wanted]
    start, size = container_window(request)
    size = min(size, MAX_PAGE) if size else DISCOVER_PAGE  # 20 a page unless asked
    chunk = nodes[start : start + size]
    return respond(
        request,
        container(
            librarySectionTitle="Watchlist",
            offset=start,
            size=len(chunk),
            totalSize=len(nodes),
            identifier="tv.plex.provider.discover",
        ).add(*chunk),
    )


async def rss_info(request: web.Request) -> web.Response:
    """Discover's ``POST /rss``: the URL of the owner's own or friends' watchlist feed."""
    require_owner(request)
    world = request.app[WORLD]
    body = await request.json() if request.can_read_body else {}
    feed = world.rss_friends_id if body.get("feedType") == "friendsWatchlist" else world.rss_self_id
    url = f"{request.scheme}://{request.host}{PREFIXES['discover']}/rss/{feed}"
    return web.json_response({"RSSInfo": [{"url": url}]})


async def metadata_root(request: web.Request) -> web.Response:
    """The metadata provider's root (plexapi opens it as a server for online items)."""
    require_user(request)
    return respond(
        request,
        container(
            size=0,
            identifier="tv.plex.provider.metadata",
            friendlyName="Plex Metadata",
            machineIdentifier="metadata",
        ),
    )


def _catalog_entry(world: World, plex_id: str) -> Movie | Show | CatalogEntry:
    for kind in ("movie", "show"):
        entry = world.find_guid(f"plex://{kind}/{plex_id}")
        if entry is not None:
            return entry
    raise web.HTTPNotFound()


async def metadata_item(request: web.Request) -> web.Response:
    """The metadata provider's ``/library/metadata/{id}`` (plex:// id), with external ids."""
    require_user(request)
    world = request.app[WORLD]
    with world.lock:
        entry = _catalog_entry(world, request.match_info["id"])
        node = render.discover_item(world, entry, full=True)
    return respond(request, container(size=1).add(node))


async def user_state(request: web.Request) -> web.Response:
    """The metadata provider's ``/library/metadata/{id}/userState``: the token's user's state
    of the item, ``watchlistedAt`` included (plexapi ``MyPlexAccount.userState``)."""
    user, world = require_user(request), request.app[WORLD]
    with world.lock:
        entry = _catalog_entry(world, request.match_info["id"])
        at = user.watchlisted_at.get(entry.plex_guid) if entry.plex_guid in user.watchlist else None
        node = render.user_state(entry, at)
    return respond(request, container(size=1).add(node))


def add_plextv_routes(app: web.Application) -> None:
    """Register plex.tv, discover and metadata endpoints under their prefixes."""
    tv, disc, meta = PREFIXES["plextv"], PREFIXES["discover"], PREFIXES["metadata"]
    app.router.add_get(f"{tv}/api/v2/user", account)
    app.router.add_get(f"{tv}/api/users/", users)
    app.router.add_get(f"{tv}/api/users", users)
    app.router.add_get(f"{tv}/api/home/users", home_users)
    app.router.add_post(f"{tv}/api/home/users/{{id}}/switch", switch_home_user)
    app.router.add_post(f"{tv}/api/v2/home/users/{{id}}/switch", switch_home_user)
    app.router.add_get(f"{tv}/api/servers/{{machine_id}}/shared_servers", shared_servers)
    app.router.add_get(f"{tv}/api/v2/resources", resources)
    app.router.add_get(f"{disc}/library/sections/watchlist/{{filter}}", watchlist)
    app.router.add_post(f"{disc}/rss", rss_info)
    app.router.add_get(f"{meta}/", metadata_root)
    app.router.add_get(f"{meta}", metadata_root)
    app.router.add_get(f"{meta}/library/metadata/{{id}}", metadata_item)
    app.router.add_get(f"{meta}/library/metadata/{{id}}/userState", user_state)
