"""`POST /api/webhooks/plex` on the real app with real multipart bodies."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cacherr import events, keys
from cacherr.config import ConfigStore
from cacherr.sources.playback import PlaybackStream

Client = TestClient[Any, Any]
URL = "/api/webhooks/plex"


def stream_of(client: Client) -> PlaybackStream:
    return client.app[keys.PLAYBACK]


async def test_a_play_with_its_thumbnail_is_queued_and_published(
    client: Client, secret: str, plex_payload: Any, plex_form: Any
) -> None:
    sub = client.app[keys.BUS].subscribe({events.PLAYBACK})
    resp = await client.post(URL, params={"secret": secret}, data=plex_form(plex_payload()))
    assert resp.status == 202
    body = await resp.json()
    assert body["success"] is True
    assert body["data"] == {"event": "media.play", "status": "queued"}

    event = stream_of(client).get_nowait()
    assert (event.kind, event.source, event.rating_key) == ("play", "plex_webhook", "1101")
    assert (event.grandparent_rating_key, event.parent_rating_key) == ("1000", "1100")
    assert (event.user_id, event.username, event.media_type) == ("1", "owner", "episode")
    assert event.title == "The Expanse – S01E01 – Dulcinea"
    assert (event.view_offset_ms, event.duration_ms) == (1000, 2_640_000)
    published = sub.get_nowait()
    assert published.data["rating_key"] == "1101"
    assert "203.0.113.7" not in json.dumps(published.wire())


@pytest.mark.parametrize(
    ("event", "kind"),
    [
        ("media.resume", "resume"),
        ("media.pause", "pause"),
        ("media.stop", "stop"),
        ("media.scrobble", "scrobble"),
        ("library.new", "new"),
        ("library.on.deck", "ondeck"),
        ("playback.started", "play"),
    ],
)
async def test_every_used_event_maps_to_its_kind(
    client: Client, secret: str, plex_payload: Any, plex_form: Any, event: str, kind: str
) -> None:
    form = plex_form(plex_payload(event), thumb_bytes=0)
    resp = await client.post(URL, params={"secret": secret}, data=form)
    assert resp.status == 202
    assert stream_of(client).get_nowait().kind == kind


async def test_a_thumbnail_larger_than_a_buffered_body_is_streamed_away(
    client: Client, secret: str, plex_payload: Any, plex_form: Any
) -> None:
    # aiohttp would refuse to buffer more than 1 MiB; a 3 MB thumb passes because it is
    # read in chunks and dropped.
    form = plex_form(plex_payload(), thumb_bytes=3_000_000)
    resp = await client.post(URL, params={"secret": secret}, data=form)
    assert resp.status == 202
    assert stream_of(client).qsize() == 1


@pytest.mark.parametrize("given", [None, "", "wrong-secret"])
async def test_a_wrong_or_missing_secret_is_401_and_queues_nothing(
    client: Client, plex_payload: Any, plex_form: Any, given: str | None
) -> None:
    sub = client.app[keys.BUS].subscribe({events.PLAYBACK})
    params = {} if given is None else {"secret": given}
    resp = await client.post(URL, params=params, data=plex_form(plex_payload()))
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "unauthorized"
    assert stream_of(client).qsize() == 0
    assert sub.dropped == 0 and sub._queue.empty()


async def test_without_a_configured_secret_every_webhook_is_refused(
    aiohttp_client: Any, store: ConfigStore, plex_payload: Any, plex_form: Any
) -> None:
    from cacherr.app import create_app

    store.save({"webhook": {"secret": None}})
    client = await aiohttp_client(create_app(store))
    for params in ({}, {"secret": ""}, {"secret": "None"}):
        resp = await client.post(URL, params=params, data=plex_form(plex_payload()))
        assert resp.status == 401
        assert "webhook.secret" in (await resp.json())["message"]
    assert client.app[keys.PLAYBACK].qsize() == 0


async def test_a_body_that_is_not_multipart_is_400(client: Client, secret: str) -> None:
    resp = await client.post(URL, params={"secret": secret}, json={"event": "media.play"})
    assert resp.status == 400
    assert "multipart/form-data" in (await resp.json())["message"]


@pytest.mark.parametrize(
    "content_type", ["multipart/form-data; boundary=----cacherr", "multipart/form-data"]
)
async def test_a_malformed_multipart_body_is_400(
    client: Client, secret: str, content_type: str
) -> None:
    """A body that is not multipart, or a multipart type without its boundary."""
    resp = await client.post(
        URL,
        params={"secret": secret},
        data=b"this is not a multipart body at all\r\n",
        headers={"Content-Type": content_type},
    )
    assert resp.status == 400
    assert "malformed multipart" in (await resp.json())["message"]
    assert stream_of(client).qsize() == 0


def raw_multipart(parts: list[tuple[str, bytes]], boundary: str = "cacherr-b") -> bytes:
    """A multipart/form-data body from (Content-Disposition value, bytes) pairs, as written
    by hand (RFC 7578): the names in it are exactly what the test gives."""
    out = b""
    for disposition, body in parts:
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        out += body + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


@pytest.mark.parametrize(
    "disposition",
    ['form-data; name="payload"', "form-data; name=payload", 'Form-Data ; NAME = "payload"',
     'form-data; filename="a; name=thumb"; name="payload"'],
)  # fmt: skip
async def test_the_payload_part_is_found_by_its_name_however_it_is_written(
    client: Client, secret: str, plex_payload: Any, disposition: str
) -> None:
    """A thumbnail first, whose quoted file name holds `name=payload`, then the payload:
    only the part whose own `name` parameter is `payload` is read as the event.

    Shape: Plex posts multipart/form-data with a `payload` part (the JSON) and, for some
    events, a `thumb` part with a JPEG (Plex support article "Webhooks",
    support.plex.tv/articles/115002267687); the header forms are RFC 7578 section 4.2's."""
    body = raw_multipart([
        ('form-data; name="thumb"; filename="x; name=payload.jpg"', b"\xff\xd8 not json"),
        (disposition, json.dumps(plex_payload()).encode()),
    ])  # fmt: skip
    headers = {"Content-Type": "multipart/form-data; boundary=cacherr-b"}
    resp = await client.post(URL, params={"secret": secret}, data=body, headers=headers)
    assert resp.status == 202, await resp.text()
    assert stream_of(client).get_nowait().rating_key == "1101"

    only_thumb = raw_multipart([('form-data; name="thumb"; filename="x; name=payload"', b"x")])
    resp = await client.post(URL, params={"secret": secret}, data=only_thumb, headers=headers)
    assert resp.status == 400
    assert "no 'payload' part" in (await resp.json())["message"]


async def test_a_body_without_a_payload_part_is_400(
    client: Client, secret: str, plex_form: Any
) -> None:
    resp = await client.post(URL, params={"secret": secret}, data=plex_form(None))
    assert resp.status == 400
    assert "no 'payload' part" in (await resp.json())["message"]


async def test_a_payload_that_is_not_json_is_400(
    client: Client, secret: str, plex_form: Any
) -> None:
    resp = await client.post(URL, params={"secret": secret}, data=plex_form('{"event": "media.'))
    assert resp.status == 400
    assert "not valid JSON" in (await resp.json())["message"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"event": None}, "event"),
        ({"Account": {"id": "not-a-number", "title": "owner"}}, "Account.id"),
        ({"Metadata": {"ratingKey": "1", "index": "first"}}, "Metadata.index"),
    ],
)
async def test_an_invalid_payload_is_400_with_the_field(
    client: Client, secret: str, plex_payload: Any, plex_form: Any, change: Any, field: str
) -> None:
    payload = plex_payload()
    payload.update(change)
    resp = await client.post(URL, params={"secret": secret}, data=plex_form(payload))
    assert resp.status == 400
    body = await resp.json()
    assert body["message"].startswith("the Plex webhook payload is invalid: ")
    assert field in [d["field"] for d in body["error"]["details"]]


async def test_a_used_event_without_a_rating_key_is_400(
    client: Client, secret: str, plex_payload: Any, plex_form: Any
) -> None:
    payload = plex_payload()
    del payload["Metadata"]["ratingKey"]
    resp = await client.post(URL, params={"secret": secret}, data=plex_form(payload))
    assert resp.status == 400
    assert "Metadata.ratingKey" in (await resp.json())["message"]


@pytest.fixture
async def small_client(aiohttp_client: Any, store: ConfigStore) -> Client:
    from cacherr.app import create_app

    store.save({"webhook": {"max_body_bytes": 65_536}})
    return await aiohttp_client(create_app(store))


async def test_a_body_over_the_limit_is_413(
    small_client: Client, secret: str, plex_payload: Any, plex_form: Any
) -> None:
    resp = await small_client.post(URL, params={"secret": secret}, data=plex_form(plex_payload()))
    assert resp.status == 413
    assert (await resp.json())["error"]["code"] == "payload_too_large"
    assert small_client.app[keys.PLAYBACK].qsize() == 0


async def test_a_chunked_body_over_the_limit_is_413_while_streaming(
    small_client: Client, secret: str, plex_payload: Any
) -> None:
    boundary = "cacherrboundary"

    async def body() -> AsyncIterator[bytes]:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="payload"\r\n\r\n'
            f"{json.dumps(plex_payload())}\r\n--{boundary}\r\n"
            'Content-Disposition: form-data; name="thumb"; filename="thumb.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        for _ in range(40):  # 40 × 16 KiB: no Content-Length announces it
            yield b"\xff" * 16_384
        yield f"\r\n--{boundary}--\r\n".encode()

    resp = await small_client.post(
        URL,
        params={"secret": secret},
        data=body(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert resp.status == 413
    assert small_client.app[keys.PLAYBACK].qsize() == 0


@pytest.mark.parametrize(
    "event", ["media.rate", "admin.database.backup", "device.new", "something.new"]
)
async def test_events_cacherr_does_not_use_are_acknowledged_and_dropped(
    client: Client, secret: str, plex_payload: Any, plex_form: Any, event: str
) -> None:
    payload = plex_payload(event)
    if event.startswith("admin.") or event == "device.new":
        del payload["Metadata"]
    resp = await client.post(URL, params={"secret": secret}, data=plex_form(payload))
    assert resp.status == 202
    body = await resp.json()
    assert (body["message"], body["data"]["status"]) == ("ignored", "ignored")
    assert stream_of(client).qsize() == 0


async def test_a_duplicate_delivery_is_one_event(
    client: Client, secret: str, plex_payload: Any, plex_form: Any
) -> None:
    statuses = []
    for _ in range(2):
        resp = await client.post(URL, params={"secret": secret}, data=plex_form(plex_payload()))
        statuses.append((await resp.json())["data"]["status"])
    assert statuses == ["queued", "duplicate"]
    assert stream_of(client).qsize() == 1
