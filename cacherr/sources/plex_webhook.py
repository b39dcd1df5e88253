"""Plex webhook payloads as playback events."""

from __future__ import annotations

from typing import Final

from cacherr.plex.webhook import PlexWebhook
from cacherr.sources.playback import PlaybackEvent, PlaybackKind

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


def event_from_plex(payload: PlexWebhook, *, received_at: float) -> PlaybackEvent | None:
    """The playback event a payload means, or None for events Cacherr does not use."""
    kind = PLEX_EVENT_KINDS.get(payload.event)
    meta = payload.metadata
    if kind is None or meta is None or not meta.rating_key:
        return None
    account = payload.account
    return PlaybackEvent(
        kind=kind,
        rating_key=meta.rating_key,
        source="plex_webhook",
        media_type=meta.type or "",
        grandparent_rating_key=meta.grandparent_rating_key or None,
        parent_rating_key=meta.parent_rating_key or None,
        user_id=str(account.id) if account is not None and account.id is not None else None,
        username=account.title if account is not None else None,
        title=_display_title(payload),
        view_offset_ms=meta.view_offset,
        duration_ms=meta.duration,
        received_at=received_at,
    )
