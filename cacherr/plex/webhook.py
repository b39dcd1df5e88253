"""The JSON `payload` part of a Plex webhook, as pydantic models.

Plex POSTs `multipart/form-data` with a `payload` part (this JSON) and, for some events, a
`thumb` JPEG part. The payload carries no file path: the item is named by its `ratingKey`.
Plex keeps adding fields, so unknown keys are kept rather than refused; the fields Cacherr
reads are typed and checked.
"""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from cacherr.errors import BadRequest, parse_json_object

# Events whose payload names an item Cacherr reacts to.
USED_EVENTS: Final = frozenset(
    {
        "media.play",
        "media.resume",
        "media.pause",
        "media.stop",
        "media.scrobble",
        "library.new",
        "library.on.deck",
        "playback.started",
    }
)


class PlexPayloadModel(BaseModel):
    """Base of the payload models: camelCase on the wire, extra keys allowed (Plex adds some)."""

    model_config = ConfigDict(
        extra="allow",
        alias_generator=to_camel,
        populate_by_name=True,
        coerce_numbers_to_str=True,
    )


class WebhookAccount(PlexPayloadModel):
    """The Plex account the event is about (the server owner's id is 1)."""

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
        return self.event in USED_EVENTS


def parse_plex_payload(raw: bytes) -> PlexWebhook:
    """Validate the `payload` part; `BadRequest` says what is wrong with it."""
    payload = parse_json_object(raw, PlexWebhook, "the Plex webhook payload")
    if payload.used and (payload.metadata is None or not payload.metadata.rating_key):
        raise BadRequest(f"a {payload.event} payload needs Metadata.ratingKey")
    return payload
