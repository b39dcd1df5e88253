"""Plex webhooks: the JSON `payload` part, as pydantic models, and the playback event it means.

Plex POSTs `multipart/form-data` with a `payload` part (this JSON) and, for play, rate and
new-item events, a `thumb` JPEG part. The payload carries no file path: the item is named by
its `ratingKey`. Plex keeps adding fields, so unknown keys are kept rather than refused; the
fields Cacherr reads are typed and checked. `PLEX_EVENT_KINDS` is the one table of the events
Cacherr reacts to.
"""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from cacherr.errors import BadRequest, parse_json_object
from cacherr.events import Playback, PlaybackKind
from cacherr.plex.users import MAIN_ID

PLEX_EVENT_KINDS: Final[dict[str, PlaybackKind]] = {
    "media.play": "play",
    "playback.started": "play",
    "media.resume": "resume",
    "media.pause": "pause",
    "media.stop": "stop",
    "media.scrobble": "scrobble",
    "library.new": "new",
    "library.on.deck": "ondeck",
}


class PlexPayloadModel(BaseModel):
    """Base of the payload models: camelCase on the wire, extra keys allowed (Plex adds some)."""

    model_config = ConfigDict(
        extra="allow",
        alias_generator=to_camel,
        populate_by_name=True,
        coerce_numbers_to_str=True,
    )


class WebhookAccount(PlexPayloadModel):
    """The Plex account the event is about (its plex.tv account id, also for the owner)."""

    id: int | None = None
    title: str | None = None
    thumb: str | None = None


class WebhookServer(PlexPayloadModel):
    """The Plex Media Server that sent the event."""

    title: str | None = None
    uuid: str | None = None


class WebhookPlayer(PlexPayloadModel):
    """The client playing (its address is never logged nor published)."""

    local: bool | None = None
    public_address: str | None = None
    title: str | None = None
    uuid: str | None = None


class WebhookMetadata(PlexPayloadModel):
    """The library item of the event."""

    library_section_type: str | None = None
    library_section_id: int | None = Field(None, alias="librarySectionID")
    rating_key: str | None = None
    key: str | None = None
    parent_rating_key: str | None = None
    grandparent_rating_key: str | None = None
    guid: str | None = None
    parent_guid: str | None = None
    grandparent_guid: str | None = None
    type: str | None = None
    title: str | None = None
    grandparent_title: str | None = None
    parent_title: str | None = None
    index: int | None = None
    parent_index: int | None = None
    view_offset: int | None = None
    duration: int | None = None
    added_at: int | None = None
    updated_at: int | None = None


class PlexWebhook(PlexPayloadModel):
    """A whole webhook payload."""

    event: str = Field(..., min_length=1)
    user: bool = False
    owner: bool = False
    account: WebhookAccount | None = Field(None, alias="Account")
    server: WebhookServer | None = Field(None, alias="Server")
    player: WebhookPlayer | None = Field(None, alias="Player")
    metadata: WebhookMetadata | None = Field(None, alias="Metadata")

    @property
    def used(self) -> bool:
        """Whether Cacherr reacts to this event at all."""
        return self.event in PLEX_EVENT_KINDS


def parse_plex_payload(raw: bytes) -> PlexWebhook:
    """Validate the `payload` part; `BadRequest` says what is wrong with it."""
    payload = parse_json_object(raw, PlexWebhook, "the Plex webhook payload")
    if payload.used and (payload.metadata is None or not payload.metadata.rating_key):
        raise BadRequest(f"a {payload.event} payload needs Metadata.ratingKey")
    return payload


def _display_title(payload: PlexWebhook) -> str:
    meta = payload.metadata
    if meta is None:
        return ""
    title = meta.title or ""
    if meta.grandparent_title:
        if meta.type == "episode" and meta.parent_index is not None and meta.index is not None:
            return f"{meta.grandparent_title} – S{meta.parent_index:02d}E{meta.index:02d} – {title}"
        return f"{meta.grandparent_title} – {title}"
    return title


def _user_id(payload: PlexWebhook) -> str | None:
    # `owner` and `user` both set: the event is the server owner's own, whom the server (and
    # Cacherr) calls 1; `Account.id` is their plex.tv account id in current payloads.
    if payload.owner and payload.user:
        return MAIN_ID
    account = payload.account
    return str(account.id) if account is not None and account.id is not None else None


def event_from_plex(payload: PlexWebhook, *, received_at: float) -> Playback | None:
    """The playback event a payload means, or None for events Cacherr does not use."""
    kind = PLEX_EVENT_KINDS.get(payload.event)
    meta = payload.metadata
    if kind is None or meta is None or not meta.rating_key:
        return None
    account = payload.account
    return Playback(
        kind=kind,
        rating_key=meta.rating_key,
        source="plex_webhook",
        media_type=meta.type or "",
        grandparent_rating_key=meta.grandparent_rating_key or None,
        parent_rating_key=meta.parent_rating_key or None,
        user_id=_user_id(payload),
        username=account.title if account is not None else None,
        title=_display_title(payload),
        view_offset_ms=meta.view_offset,
        duration_ms=meta.duration,
        server_id=payload.server.uuid if payload.server is not None else None,
        received_at=received_at,
    )
