"""`POST /api/webhooks/tautulli` with bodies Tautulli renders from the documented template."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cacherr import keys
from cacherr.config import ConfigStore
from cacherr.sources import tautulli

Client = TestClient[Any, Any]
URL = "/api/webhooks/tautulli"
DOC = Path(__file__).resolve().parents[2] / "docs" / "tautulli.md"


def _template_from(text: str) -> str:
    match = re.search(r"\{\n\s+\"action\".*?\n\s*\}", text, re.DOTALL)
    assert match is not None
    return match.group(0)


def render(template: str, **values: Any) -> bytes:
    """What Tautulli does: replace each {parameter}, an unknown one by an empty string."""
    return re.sub(r"\{(\w+)\}", lambda m: str(values.get(m.group(1), "")), template).encode()


EPISODE = {
    "rating_key": 1101,
    "parent_rating_key": 1100,
    "grandparent_rating_key": 1000,
    "media_type": "episode",
    "user_id": 12345,
    "username": "bob",
    "title": "The Expanse - Dulcinea",
    "view_offset": 61000,
    "duration_ms": 2640000,
}


def test_the_docs_and_the_module_carry_the_same_template() -> None:
    documented = _template_from(DOC.read_text(encoding="utf-8"))
    in_module = _template_from(tautulli.__doc__ or "")
    assert json.loads(documented) == json.loads(in_module)


@pytest.mark.parametrize(
    ("action", "kind"),
    [
        ("play", "play"),
        ("resume", "resume"),
        ("pause", "pause"),
        ("stop", "stop"),
        ("watched", "scrobble"),
        ("created", "new"),
    ],
)
async def test_the_template_rendered_by_tautulli_is_queued(
    client: Client, secret: str, action: str, kind: str
) -> None:
    template = _template_from(DOC.read_text(encoding="utf-8"))
    body = render(template, action=action, **EPISODE)
    resp = await client.post(
        URL, params={"secret": secret}, data=body, headers={"Content-Type": "application/json"}
    )
    assert resp.status == 202
    assert (await resp.json())["data"] == {"event": action, "status": "queued"}
    event = client.app[keys.PLAYBACK].get_nowait()
    assert (event.kind, event.source, event.rating_key) == (kind, "tautulli", "1101")
    assert (event.parent_rating_key, event.grandparent_rating_key) == ("1100", "1000")
    assert (event.user_id, event.username, event.media_type) == ("12345", "bob", "episode")
    assert (event.view_offset_ms, event.duration_ms) == (61000, 2640000)


async def test_a_movie_leaves_its_empty_parent_keys_absent(client: Client, secret: str) -> None:
    template = _template_from(DOC.read_text(encoding="utf-8"))
    body = render(template, action="play", rating_key=2001, media_type="movie", user_id=1,
                  username="owner", title="Heat")  # fmt: skip
    resp = await client.post(URL, params={"secret": secret}, data=body)
    assert resp.status == 202
    event = client.app[keys.PLAYBACK].get_nowait()
    assert (event.parent_rating_key, event.grandparent_rating_key) == (None, None)
    assert (event.view_offset_ms, event.duration_ms) == (None, None)


@pytest.mark.parametrize("params", [{}, {"secret": "nope"}])
async def test_a_wrong_or_missing_secret_is_401_and_queues_nothing(
    client: Client, params: dict[str, str]
) -> None:
    resp = await client.post(URL, params=params, json={"action": "play", "rating_key": "1"})
    assert resp.status == 401
    assert client.app[keys.PLAYBACK].qsize() == 0


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"action": "play", ', "not valid JSON"),
        (b'["play"]', "JSON object"),
        (b'{"action": "play", "rating_key": ""}', "needs rating_key"),
        (b'{"rating_key": "1"}', "payload is invalid"),
        (b'{"action": "play", "rating_key": "1", "view_offset": "soon"}', "payload is invalid"),
    ],
)
async def test_a_body_it_cannot_read_is_400_with_the_reason(
    client: Client, secret: str, body: bytes, reason: str
) -> None:
    resp = await client.post(URL, params={"secret": secret}, data=body)
    assert resp.status == 400
    assert reason in (await resp.json())["message"]
    assert client.app[keys.PLAYBACK].qsize() == 0


async def test_an_action_cacherr_does_not_use_is_acknowledged(client: Client, secret: str) -> None:
    resp = await client.post(
        URL, params={"secret": secret}, json={"action": "buffer", "rating_key": "1"}
    )
    assert resp.status == 202
    assert (await resp.json())["data"]["status"] == "ignored"
    assert client.app[keys.PLAYBACK].qsize() == 0


async def test_a_body_over_the_limit_is_413(
    aiohttp_client: Any, store: ConfigStore, secret: str
) -> None:
    from cacherr.app import create_app

    store.save({"webhook": {"max_body_bytes": 65_536}})
    client = await aiohttp_client(create_app(store))
    body = json.dumps({"action": "play", "rating_key": "1", "pad": "x" * 70_000}).encode()
    resp = await client.post(URL, params={"secret": secret}, data=body)
    assert resp.status == 413

    async def chunked() -> Any:
        yield b'{"action": "play", "rating_key": "1", "pad": "'
        for _ in range(10):
            yield b"x" * 10_000
        yield b'"}'

    resp = await client.post(URL, params={"secret": secret}, data=chunked())
    assert resp.status == 413
    assert client.app[keys.PLAYBACK].qsize() == 0
