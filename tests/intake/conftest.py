"""Fixtures: webhook bodies built the way Plex builds them, a fake `/status/sessions`."""

from __future__ import annotations

import io
import json
import random
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from aiohttp import FormData

from cacherr.config import ConfigStore
from cacherr.plex.sessions import SessionSnapshot

PayloadFactory = Callable[..., dict[str, Any]]
FormFactory = Callable[..., FormData]


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


def jpeg_like(size: int, seed: int = 7) -> bytes:
    """Bytes that start and end like a JPEG, random in between."""
    return b"\xff\xd8\xff\xe0" + random.Random(seed).randbytes(size - 6) + b"\xff\xd9"


@pytest.fixture
def plex_payload() -> PayloadFactory:
    """A Plex webhook payload, as Plex Media Server writes it (with fields Cacherr ignores)."""

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
        return {
            "event": event,
            "user": True,
            "owner": account_id == 1,
            "Account": {
                "id": account_id,
                "thumb": "https://plex.tv/users/abc/avatar",
                "title": account,
            },
            "Server": {"title": "Tower", "uuid": "3f1d0d5c6a0e4f6a9d1e"},
            "Player": {
                "local": False,
                "publicAddress": "203.0.113.7",
                "title": "Living Room TV",
                "uuid": "player-uuid-1",
            },
            "Metadata": meta,
        }

    return build


@pytest.fixture
def plex_form() -> FormFactory:
    """A multipart body as Plex sends it: `payload` (JSON) and optionally a `thumb` JPEG."""

    def build(payload: dict[str, Any] | str | None, *, thumb_bytes: int = 300_000) -> FormData:
        form = FormData()
        if payload is not None:
            text = payload if isinstance(payload, str) else json.dumps(payload)
            form.add_field("payload", text, content_type="application/json")
        if thumb_bytes:
            form.add_field(
                "thumb",
                io.BytesIO(jpeg_like(thumb_bytes)),
                filename="thumb.jpg",
                content_type="image/jpeg",
            )
        return form

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
