"""Fixtures: webhook bodies built the way Plex builds them, a fake `/status/sessions`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from aiohttp import FormData

from cacherr.config import ConfigStore
from cacherr.fakeplex import User, webhooks
from cacherr.fakeplex.model import UserKind
from cacherr.sources.snapshots import SessionSnapshot

PayloadFactory = Callable[..., dict[str, Any]]
FormFactory = Callable[..., FormData]
SERVER_UUID = "3f1d0d5c6a0e4f6a9d1e"  # the daemon's Plex in these tests (no Plex is set up)


@pytest.fixture
def secret(store: ConfigStore) -> str:
    """The webhook secret the first start generated."""
    assert store.current.webhook.secret is not None
    return store.current.webhook.secret.get_secret_value()


@pytest.fixture
def api_key(store: ConfigStore) -> dict[str, str]:
    """Headers that pass the API key check."""
    assert store.current.web.api_key is not None
    return {"X-Api-Key": store.current.web.api_key.get_secret_value()}


@pytest.fixture
def plex_payload() -> PayloadFactory:
    """A Plex webhook payload, as Plex Media Server writes it (with fields Cacherr ignores).

    Built by the simulated Plex's one webhook builder (`cacherr.fakeplex.webhooks`, shaped
    after Plex's webhook support article) around a fixed episode's metadata.
    """

    def build(
        event: str = "media.play",
        *,
        rating_key: str = "1101",
        account_id: int = 1,
        account: str = "owner",
        **metadata: Any,
    ) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "librarySectionType": "show",
            "ratingKey": rating_key,
            "key": f"/library/metadata/{rating_key}",
            "parentRatingKey": "1100",
            "grandparentRatingKey": "1000",
            "guid": "plex://episode/5d9c0873ffd9ef001e99f3d8",
            "parentGuid": "plex://season/602e67a1b1b8d5002c2c1e9a",
            "grandparentGuid": "plex://show/5d9c086c46115600200aa2fe",
            "type": "episode",
            "title": "Dulcinea",
            "grandparentTitle": "The Expanse",
            "parentTitle": "Season 1",
            "contentRating": "TV-14",
            "summary": "Jim Holden and his crew ...",
            "index": 1,
            "parentIndex": 1,
            "viewOffset": 1000,
            "duration": 2_640_000,
            "librarySectionID": 2,
            "librarySectionTitle": "TV Shows",
            "addedAt": 1_700_000_000,
            "updatedAt": 1_700_000_100,
            "Guid": [{"id": "tvdb://5555"}],
        }
        meta.update(metadata)
        kind: UserKind = "owner" if account_id == 1 else "shared"
        user = User(id=account_id, username=account, title=account, kind=kind, token="",
                    uuid="abc")  # fmt: skip
        return webhooks.payload(event, user, server_uuid=SERVER_UUID, meta=meta)

    return build


@pytest.fixture
def plex_form() -> FormFactory:
    """A multipart body as Plex sends it: `payload` (JSON) and optionally a `thumb` JPEG."""

    def build(payload: dict[str, Any] | str | None, *, thumb_bytes: int = 300_000) -> FormData:
        return webhooks.form(payload, thumb_bytes=thumb_bytes)

    return build


class FakePlexSessions:
    """The outside world's `/status/sessions`, as the gateway would hand it over."""

    def __init__(self) -> None:
        self.sessions: dict[str, SessionSnapshot] = {}
        self.error: Exception | None = None
        self.calls = 0

    async def __call__(self) -> list[SessionSnapshot]:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return list(self.sessions.values())

    def play(self, session_key: str = "7", **fields: Any) -> SessionSnapshot:
        base: dict[str, Any] = {
            "session_key": session_key,
            "rating_key": "1101",
            "grandparent_rating_key": "1000",
            "parent_rating_key": "1100",
            "media_type": "episode",
            "user_id": "1",
            "username": "owner",
            "title": "The Expanse – S01E01 – Dulcinea",
            "player": "Living Room TV",
            "state": "playing",
            "view_offset_ms": 1000,
            "duration_ms": 2_640_000,
            "file_paths": ["/data/tv/The Expanse/Season 01/The Expanse - S01E01.mkv"],
        }
        base.update(fields)
        snapshot = SessionSnapshot(**base)
        self.sessions[session_key] = snapshot
        return snapshot

    def update(self, session_key: str = "7", **fields: Any) -> None:
        self.sessions[session_key] = replace(self.sessions[session_key], **fields)

    def stop(self, session_key: str = "7") -> None:
        del self.sessions[session_key]


@pytest.fixture
def plex_sessions() -> FakePlexSessions:
    return FakePlexSessions()
