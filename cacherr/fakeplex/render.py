"""World objects rendered as Plex's metadata elements, from one user's point of view."""

from __future__ import annotations

from .model import (
    CatalogEntry,
    Episode,
    Extra,
    Item,
    Library,
    Media,
    Movie,
    Season,
    Session,
    Show,
    User,
)
from .nodes import Attr, Node
from .views import leaf_counts
from .world import World

AGENTS = {
    "movie": ("tv.plex.agents.movie", "Plex Movie"),
    "show": ("tv.plex.agents.series", "Plex TV Series"),
}


def section(world: World, lib: Library) -> Node:
    """A ``Directory`` of ``/library/sections``."""
    agent, scanner = AGENTS[lib.type]
    return Node(
        "Directory",
        {
            "allowSync": True,
            "art": f"/:/resources/{lib.type}-fanart.jpg",
            "filters": True,
            "refreshing": False,
            "thumb": f"/:/resources/{lib.type}.png",
            "key": str(lib.id),
            "type": lib.type,
            "title": lib.title,
            "agent": agent,
            "scanner": scanner,
            "language": "en-US",
            "uuid": lib.uuid,
            "updatedAt": world.now(),
            "createdAt": world.now(),
            "scannedAt": world.now(),
            "content": True,
            "directory": True,
            "hidden": 1 if lib.hidden_from_home else 0,
        },
    ).add(Node("Location", {"id": lib.id, "path": str(world.plex_root / lib.folder)}))


def _guids(guids: list[str]) -> list[Node]:
    return [Node("Guid", {"id": g}) for g in guids]


def _media(m: Media, duration_ms: int) -> Node:
    node = Node(
        "Media",
        {
            "id": m.id,
            "duration": duration_ms,
            "container": m.container,
            "videoResolution": m.video_resolution,
            "videoCodec": "h264",
            "audioCodec": "aac",
            "audioChannels": 2,
        },
    )
    for p in m.parts:
        node.add(
            Node(
                "Part",
                {
                    "id": p.id,
                    "key": f"/library/parts/{p.id}/file.{p.container}",
                    "duration": duration_ms,
                    "file": p.file,
                    "size": p.size,
                    "container": p.container,
                },
            )
        )
    return node


def _state_attrs(user: User, rating_key: int) -> dict[str, Attr]:
    st = user.states.get(rating_key)
    if not st:
        return {}
    return {
        "viewCount": st.view_count or None,
        "viewOffset": st.view_offset_ms or None,
        "lastViewedAt": st.last_viewed_at,
    }


def _lib_attrs(lib: Library) -> dict[str, Attr]:
    return {
        "librarySectionTitle": lib.title,
        "librarySectionID": lib.id,
        "librarySectionKey": f"/library/sections/{lib.id}",
    }


def movie(user: User, m: Movie) -> Node:
    """A movie ``Video``."""
    attrs: dict[str, Attr] = {
        "ratingKey": str(m.rating_key),
        "key": f"/library/metadata/{m.rating_key}",
        "guid": m.plex_guid,
        "type": "movie",
        "title": m.title,
        "year": m.year,
        "duration": m.duration_ms,
        "addedAt": m.added_at,
        "updatedAt": m.added_at,
        **_lib_attrs(m.library),
        **_state_attrs(user, m.rating_key),
    }
    return Node("Video", attrs, [_media(x, m.duration_ms) for x in m.media] + _guids(m.guids))


def episode(user: User, e: Episode) -> Node:
    """An episode ``Video``."""
    season, show = e.season, e.season.show
    attrs: dict[str, Attr] = {
        "ratingKey": str(e.rating_key),
        "key": f"/library/metadata/{e.rating_key}",
        "parentRatingKey": str(season.rating_key),
        "grandparentRatingKey": str(show.rating_key),
        "guid": e.plex_guid,
        "parentGuid": season.plex_guid,
        "grandparentGuid": show.plex_guid,
        "type": "episode",
        "title": e.title,
        "grandparentTitle": show.title,
        "parentTitle": season.title,
        "grandparentKey": f"/library/metadata/{show.rating_key}",
        "parentKey": f"/library/metadata/{season.rating_key}",
        "index": e.index,
        "parentIndex": e.parent_index,
        "duration": e.duration_ms,
        "addedAt": e.added_at,
        "updatedAt": e.added_at,
        "year": show.year,
        **_lib_attrs(show.library),
        **_state_attrs(user, e.rating_key),
    }
    return Node("Video", attrs, [_media(x, e.duration_ms) for x in e.media] + _guids(e.guids))


def show(world: World, user: User, s: Show) -> Node:
    """A show ``Directory``."""
    leaf, viewed = leaf_counts(user, s)
    attrs: dict[str, Attr] = {
        "ratingKey": str(s.rating_key),
        "key": f"/library/metadata/{s.rating_key}/children",
        "guid": s.plex_guid,
        "type": "show",
        "title": s.title,
        "year": s.year,
        "index": 1,
        "leafCount": leaf,
        "viewedLeafCount": viewed,
        "childCount": len(s.seasons),
        "addedAt": s.added_at,
        "updatedAt": s.added_at,
        **_lib_attrs(s.library),
    }
    children = [*_guids(s.guids), Node("Location", {"path": str(world.plex_root / s.folder)})]
    return Node("Directory", attrs, children)


def season(user: User, s: Season) -> Node:
    """A season ``Directory``."""
    leaf, viewed = leaf_counts(user, s)
    return Node(
        "Directory",
        {
            "ratingKey": str(s.rating_key),
            "key": f"/library/metadata/{s.rating_key}/children",
            "parentRatingKey": str(s.show.rating_key),
            "guid": s.plex_guid,
            "parentGuid": s.show.plex_guid,
            "type": "season",
            "title": s.title,
            "parentTitle": s.show.title,
            "parentKey": f"/library/metadata/{s.show.rating_key}",
            "index": s.index,
            "parentIndex": 1,
            "leafCount": leaf,
            "viewedLeafCount": viewed,
            "addedAt": s.added_at,
            "updatedAt": s.added_at,
            **_lib_attrs(s.show.library),
        },
    )


def item(world: World, user: User, it: Item) -> Node:
    """Any library item, as a ``Metadata`` entry of its container."""
    if isinstance(it, Movie):
        node = movie(user, it)
    elif isinstance(it, Episode):
        node = episode(user, it)
    elif isinstance(it, Show):
        node = show(world, user, it)
    else:
        node = season(user, it)
    node.json_key = "Metadata"
    return node


def session(world: World, sess: Session) -> Node:
    """A ``/status/sessions`` entry: the item plus ``User``, ``Player`` and ``Session``."""
    node = item(world, sess.user, sess.item)
    node.attrs["sessionKey"] = str(sess.session_key)
    node.attrs["viewOffset"] = sess.view_offset_ms
    if sess.transcoding:
        # A transcoding session lists the media it produces: its parts name no file
        # (wnielson/Plex-Remote-Transcoder#58: "the plex sessions XML no longer includes a
        # filename"), and a TranscodeSession child describes the transcode.
        for media in (c for c in node.children if c.tag == "Media"):
            for part in (c for c in media.children if c.tag == "Part"):
                part.attrs.pop("file", None)
        node.add(
            Node(
                "TranscodeSession",
                {"key": f"/transcode/sessions/tc-{sess.session_key}", "videoDecision": "transcode"},
                single=True,
            )
        )
    return node.add(
        Node(
            "User",
            {
                "id": str(sess.user.id),
                "title": sess.user.title,
                "thumb": f"https://plex.tv/users/{sess.user.uuid}/avatar",
            },
            single=True,
        ),
        Node(
            "Player",
            {
                "address": "127.0.0.1",
                "machineIdentifier": sess.player_id,
                "platform": "Cacherr",
                "product": "Cacherr Player",
                "state": sess.state,
                "title": sess.player_title,
                "local": sess.local,
                "relayed": False,
                "secure": False,
            },
            single=True,
        ),
        Node(
            "Session",
            {
                "id": f"sess-{sess.session_key}",
                "bandwidth": 8000,
                "location": "lan" if sess.local else "wan",
            },
            single=True,
        ),
    )


def discover_item(world: World, entry: Movie | Show | CatalogEntry, *, full: bool = False) -> Node:
    """A plex.tv (discover/metadata provider) item keyed by its plex:// id.

    As a watchlist lists it: the plex:// guid only, no ``Guid`` children and no
    ``watchlistedAt``; ``full`` (the metadata provider's own answer) adds the external ids.
    """
    kind = (
        entry.type
        if isinstance(entry, CatalogEntry)
        else ("movie" if isinstance(entry, Movie) else "show")
    )
    plex_id = entry.plex_guid.rsplit("/", 1)[-1]
    return Node(
        "Video" if kind == "movie" else "Directory",
        {
            "ratingKey": plex_id,
            "key": f"/library/metadata/{plex_id}",
            "guid": entry.plex_guid,
            "type": kind,
            "title": entry.title,
            "year": entry.year,
            "publicPagesURL": f"https://watch.plex.tv/{kind}/{plex_id}",
        },
        _guids(entry.guids) if full else [],
        json_key="Metadata",
    )


def user_state(entry: Movie | Show | CatalogEntry, watchlisted_at: int | None) -> Node:
    """The metadata provider's ``UserState`` of one item for one user."""
    plex_id = entry.plex_guid.rsplit("/", 1)[-1]
    kind = entry.type if isinstance(entry, CatalogEntry) else type(entry).__name__.lower()
    return Node(
        "UserState",
        {"ratingKey": plex_id, "type": kind, "watchlistedAt": watchlisted_at, "viewCount": 0},
        json_key="UserState",
    )


def extra(e: Extra) -> Node:
    """A trailer (``Video type="clip"``) or a music ``Track``, with its file."""
    attrs: dict[str, Attr] = {
        "ratingKey": str(e.rating_key),
        "key": f"/library/metadata/{e.rating_key}",
        "type": e.type,
        "title": e.title,
        "duration": e.duration_ms,
        "librarySectionID": e.section_id,
    }
    if e.type == "clip":
        attrs.update(subtype="trailer", extraType=1, parentRatingKey=e.parent_key)
    return Node(
        "Video" if e.type == "clip" else "Track", attrs, [_media(m, e.duration_ms) for m in e.media]
    )
