"""Tautulli's webhook agent as a playback source (for servers without Plex Pass).

In Tautulli: Settings → Notification Agents → Add → Webhook.

- Webhook URL: ``http://<cacherr>:5757/api/webhooks/tautulli?secret=<webhook.secret>``
- Webhook Method: ``POST``
- Triggers: Playback Start, Playback Stop, Playback Pause, Playback Resume, Watched,
  Recently Added.
- Data: paste the same JSON into the box of every trigger above::

    {
      "action": "{action}",
      "rating_key": "{rating_key}",
      "parent_rating_key": "{parent_rating_key}",
      "grandparent_rating_key": "{grandparent_rating_key}",
      "media_type": "{media_type}",
      "user_id": "{user_id}",
      "username": "{username}",
      "title": "{title}",
      "view_offset": "{view_offset}",
      "duration_ms": "{duration_ms}",
      "server_machine_id": "{server_machine_id}"
    }

`action` is Tautulli's own: play, resume, pause, stop, watched or created (others are
acknowledged and ignored). Tautulli fills a parameter it has no value for with an empty
string, so empty strings read as absent. `view_offset` and `duration_ms` are milliseconds;
Tautulli's `{duration}` is minutes (its notification parameters list), read when
`duration_ms` is absent. `server_machine_id` is the Plex server's machineIdentifier: an event
from another server is ignored (and counted). `user_id` is the plex.tv account id, also the
owner's. docs/tautulli.md says the same for users.
"""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cacherr.errors import BadRequest, parse_json_object
from cacherr.events import Playback, PlaybackKind

TAUTULLI_ACTION_KINDS: Final[dict[str, PlaybackKind]] = {
    "play": "play",
    "resume": "resume",
    "pause": "pause",
    "stop": "stop",
    "watched": "scrobble",
    "created": "new",
}


class TautulliPayload(BaseModel):
    """The body the template above produces; extra keys a user adds are allowed."""

    model_config = ConfigDict(extra="allow", coerce_numbers_to_str=True)

    action: str = Field(..., min_length=1, description="Tautulli's {action}.")
    rating_key: str | None = Field(None, description="{rating_key} of the movie/episode/track.")
    parent_rating_key: str | None = Field(None, description="{parent_rating_key}.")
    grandparent_rating_key: str | None = Field(None, description="{grandparent_rating_key}.")
    media_type: str | None = Field(None, description="{media_type}.")
    user_id: str | None = Field(None, description="{user_id}, the Plex account id.")
    username: str | None = Field(None, description="{username}, the Plex username.")
    title: str | None = Field(None, description="{title}.")
    view_offset: int | None = Field(None, ge=0, description="{view_offset}, milliseconds.")
    duration_ms: int | None = Field(None, ge=0, description="{duration_ms}, milliseconds.")
    duration: int | None = Field(None, ge=0, description="{duration}, minutes.")
    server_machine_id: str | None = Field(
        None, description="{server_machine_id}, the Plex server's machineIdentifier."
    )

    @field_validator("*", mode="before")
    @classmethod
    def _empty_is_absent(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("action", mode="after")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.strip().lower()

    @property
    def used(self) -> bool:
        """Whether Cacherr reacts to this action."""
        return self.action in TAUTULLI_ACTION_KINDS


def parse_tautulli_payload(raw: bytes) -> TautulliPayload:
    """Validate a Tautulli body; `BadRequest` says what is wrong with it."""
    payload = parse_json_object(raw, TautulliPayload, "the Tautulli payload")
    if payload.used and not payload.rating_key:
        raise BadRequest(f"a {payload.action} payload needs rating_key")
    return payload


def _duration_ms(payload: TautulliPayload) -> int | None:
    if payload.duration_ms is not None:
        return payload.duration_ms
    return None if payload.duration is None else payload.duration * 60_000


def event_from_tautulli(payload: TautulliPayload, *, received_at: float) -> Playback | None:
    """The playback event a Tautulli body means, or None for actions Cacherr does not use."""
    kind = TAUTULLI_ACTION_KINDS.get(payload.action)
    if kind is None or not payload.rating_key:
        return None
    return Playback(
        kind=kind,
        rating_key=payload.rating_key,
        source="tautulli",
        media_type=payload.media_type or "",
        grandparent_rating_key=payload.grandparent_rating_key,
        parent_rating_key=payload.parent_rating_key,
        user_id=payload.user_id,
        username=payload.username,
        title=payload.title or "",
        view_offset_ms=payload.view_offset,
        duration_ms=_duration_ms(payload),
        server_id=payload.server_machine_id,
        received_at=received_at,
    )
