"""The owner's watchlist RSS feeds (own and friends'), as Plex serves them in 2026.

RSS 2.0 with the Media RSS namespace; each item carries its title, a public link,
``category`` (movie/show), one ``guid`` per external id (imdb://, tmdb://, tvdb://,
then plex://) and, in the friends' feed, ``author`` = the friend's plex.tv UUID (the hex
id in their avatar URL on plex.tv ``/api/users``), not their numeric account id.
``?format=json`` gives the same items as JSON (``guids`` list, ``author``).

Since 2026-07 the feeds live on the discover host (``/rss/<id>``), which may redirect
(``world.rss_redirects``: to ``/rss/<id>/feed``); the retired ``rss.plex.tv/<id>`` URLs
answer 401 (a feed it knew) or 404.
"""

from __future__ import annotations

from email.utils import formatdate
from typing import Any
from xml.etree import ElementTree as ET

from aiohttp import web

from .faults import PREFIXES
from .keys import WORLD
from .model import CatalogEntry, Movie, Show, User
from .world import World

MEDIA_NS = "http://search.yahoo.com/mrss/"


def _items(world: World, friends: bool) -> list[tuple[User, Movie | Show | CatalogEntry, int]]:
    who = [u for u in world.users if u.kind != "owner"] if friends else [world.owner]
    out = []
    for user in who:
        for guid in user.watchlist:
            entry = world.find_guid(guid) or CatalogEntry(
                plex_guid=guid,
                title=guid.rsplit("/", 1)[-1],
                type="show" if guid.startswith("plex://show/") else "movie",
            )
            out.append((user, entry, user.watchlisted_at.get(guid, 0)))
    out.sort(key=lambda t: -t[2])
    return out


def _kind(entry: Movie | Show | CatalogEntry) -> str:
    if isinstance(entry, CatalogEntry):
        return entry.type
    return "movie" if isinstance(entry, Movie) else "show"


def _as_dict(
    user: User, entry: Movie | Show | CatalogEntry, at: int, friends: bool
) -> dict[str, Any]:
    kind = _kind(entry)
    return {
        "title": entry.title,
        "pubDate": formatdate(at, usegmt=True),
        "link": f"https://watch.plex.tv/{kind}/{entry.plex_guid.rsplit('/', 1)[-1]}",
        "description": "",
        "category": kind,
        "guids": [*entry.guids, entry.plex_guid],
        "author": user.uuid if friends else "",
    }


def _to_xml(title: str, items: list[dict[str, Any]]) -> bytes:
    ET.register_namespace("media", MEDIA_NS)
    rss = ET.Element("rss", {"version": "2.0"})
    channel = ET.SubElement(rss, "channel")
    for tag, text in (
        ("title", title),
        ("link", "https://watch.plex.tv/watchlist"),
        ("description", title),
    ):
        ET.SubElement(channel, tag).text = text
    for it in items:
        node = ET.SubElement(channel, "item")
        for tag in ("title", "pubDate", "link", "description", "category"):
            ET.SubElement(node, tag).text = it[tag]
        for guid in it["guids"]:
            ET.SubElement(node, "guid", {"isPermaLink": "false"}).text = guid
        if it["author"]:
            ET.SubElement(node, "author").text = it["author"]
        ET.SubElement(node, f"{{{MEDIA_NS}}}keywords").text = it["category"]
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(rss)


def _known(request: web.Request) -> str:
    world = request.app[WORLD]
    feed_id = request.match_info["feed_id"]
    if feed_id not in (world.rss_self_id, world.rss_friends_id):
        raise web.HTTPNotFound()
    return feed_id


async def retired(request: web.Request) -> web.Response:
    """The retired ``rss.plex.tv/{feed_id}``: 401 for a feed it served, 404 otherwise."""
    _known(request)
    raise web.HTTPUnauthorized(text="this feed has moved")


async def entry(request: web.Request) -> web.Response:
    """Discover's ``/rss/{feed_id}``: the feed, or a redirect to it when the world says so."""
    feed_id = _known(request)
    if request.app[WORLD].rss_redirects:
        path = f"{PREFIXES['discover']}/rss/{feed_id}/feed"
        target = request.rel_url.with_path(path).with_query(request.query)
        raise web.HTTPFound(target)
    return await feed(request)


async def feed(request: web.Request) -> web.Response:
    """The feed itself: no token needed, the unguessable id is the secret (as on plex.tv)."""
    world = request.app[WORLD]
    feed_id = _known(request)
    friends = feed_id == world.rss_friends_id
    title = "Friends' Watchlist" if friends else "Watchlist"
    with world.lock:
        items = [_as_dict(u, e, at, friends) for u, e, at in _items(world, friends)]
    if request.query.get("format") == "json":
        return web.json_response({"title": title, "items": items})
    return web.Response(
        body=_to_xml(title, items), content_type="application/rss+xml", charset="utf-8"
    )


def add_rss_routes(app: web.Application) -> None:
    """Register the feeds on the discover host and the retired rss host's answer."""
    app.router.add_get(f"{PREFIXES['discover']}/rss/{{feed_id}}", entry)
    app.router.add_get(f"{PREFIXES['discover']}/rss/{{feed_id}}/feed", feed)
    app.router.add_get(f"{PREFIXES['rss']}/{{feed_id}}", retired)
