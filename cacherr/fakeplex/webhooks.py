"""The webhooks the simulated Plex sends: the `payload` JSON and the multipart body around it.

The one builder of Plex-shaped webhooks, used by the demo's viewers, the benchmarks and the
tests. The shape follows Plex's webhook support article (support.plex.tv, "Webhooks"):

- webhooks go to the owner's account and cover every user's plays on the owner's server, so
  `owner` is true there; `user` is true only when the event is the webhook account's own;
- the owner's webhooks "travel" with them: their plays on someone else's server arrive too,
  with `owner: false, user: true` and that server's `Server.uuid`;
- `Account.id` is the plex.tv account id (Tautulli's `{user_id}` is the same number), while
  the server's own sessions call the owner 1;
- `media.play`, `media.rate`, `library.new` and `library.on.deck` carry a `thumb` JPEG part.
"""

from __future__ import annotations

import io
import json
import random
from typing import Any, Final

from aiohttp import FormData

from .model import Episode, Movie, User
from .world import World

THUMB_EVENTS: Final = frozenset({"media.play", "media.rate", "library.new", "library.on.deck"})


def jpeg_like(size: int, seed: int = 7) -> bytes:
    """Bytes that start and end like a JPEG, random in between (Plex's poster thumbnail)."""
    return b"\xff\xd8\xff\xe0" + random.Random(seed).randbytes(max(0, size - 6)) + b"\xff\xd9"


def metadata(item: Episode | Movie) -> dict[str, Any]:
    """The `Metadata` object of a webhook about `item` (no file path: Plex sends none)."""
    key = item.rating_key
    meta: dict[str, Any] = {
        "ratingKey": str(key),
        "key": f"/library/metadata/{key}",
        "guid": item.plex_guid,
        "title": item.title,
        "addedAt": item.added_at,
        "duration": item.duration_ms,
    }
    if isinstance(item, Episode):
        season, show = item.season, item.season.show
        meta.update(
            type="episode",
            librarySectionType="show",
            librarySectionID=show.library.id,
            librarySectionTitle=show.library.title,
            parentRatingKey=str(season.rating_key),
            grandparentRatingKey=str(show.rating_key),
            parentGuid=season.plex_guid,
            grandparentGuid=show.plex_guid,
            parentTitle=season.title,
            grandparentTitle=show.title,
            index=item.index,
            parentIndex=item.parent_index,
        )
    else:
        meta.update(
            type="movie",
            librarySectionType="movie",
            librarySectionID=item.library.id,
            librarySectionTitle=item.library.title,
            year=item.year,
        )
    return meta


def payload(
    event: str,
    user: User,
    item: Episode | Movie | None = None,
    *,
    server_uuid: str,
    server_title: str = "Tower",
    own_server: bool = True,
    meta: dict[str, Any] | None = None,
    view_offset_ms: int = 0,
) -> dict[str, Any]:
    """The JSON Plex sends to the owner's webhook for `user`'s `event` on `item`.

    `own_server=False` makes it the owner's play on someone else's server (their webhooks
    travel with them). `meta` replaces the item's metadata (raw shapes, unknown items).
    """
    data = dict(meta) if meta is not None else metadata(item) if item is not None else {}
    if item is not None and meta is None:
        data["viewOffset"] = view_offset_ms
    return {
        "event": event,
        "user": user.kind == "owner",
        "owner": own_server,
        "Account": {
            "id": user.account_id,
            "thumb": f"https://plex.tv/users/{user.uuid}/avatar",
            "title": user.title,
        },
        "Server": {"title": server_title, "uuid": server_uuid},
        "Player": {
            "local": True,
            "publicAddress": "203.0.113.7",
            "title": "Living Room TV",
            "uuid": "player-living-room",
        },
        "Metadata": data,
    }


def from_world(
    event: str, world: World, user: User, item: Episode | Movie | None = None, **kw: Any
) -> dict[str, Any]:
    """`payload` for a play on the world's own server."""
    return payload(
        event, user, item, server_uuid=world.machine_identifier, server_title=world.server_name,
        **kw,
    )  # fmt: skip


def form(body: dict[str, Any] | str | None, *, thumb_bytes: int | None = None) -> FormData:
    """The multipart body Plex POSTs: `payload` (JSON) and, for some events, a `thumb` JPEG.

    `thumb_bytes=None` attaches a thumbnail exactly when Plex would (`THUMB_EVENTS`).
    """
    out = FormData()
    event = body.get("event") if isinstance(body, dict) else None
    if body is not None:
        text = body if isinstance(body, str) else json.dumps(body)
        # A typed part makes the body multipart/form-data, the way Plex sends it.
        out.add_field("payload", text, content_type="application/json")
    if thumb_bytes is None:
        thumb_bytes = 20_000 if event in THUMB_EVENTS else 0
    if thumb_bytes:
        out.add_field(
            "thumb",
            io.BytesIO(jpeg_like(thumb_bytes)),
            filename="thumb.jpg",
            content_type="image/jpeg",
        )
    return out
