"""The session poller driven poll by poll against a fake `/status/sessions`, and the stream."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cacherr import events, keys
from cacherr.app import create_app
from cacherr.config import ConfigStore
from cacherr.config.models import SessionsConfig
from cacherr.events import EventBus, Playback, Subscription
from cacherr.fakeplex import Episode, World, start_fake_plex, webhooks
from cacherr.sources.playback import PlaybackStream
from cacherr.sources.sessions import SessionPoller
from tests.waiting import until

Client = TestClient[Any, Any]
FILE = "/data/tv/The Expanse/Season 01/The Expanse - S01E01.mkv"


class Clock:
    """Monotonic seconds a test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def bus() -> EventBus:
    return EventBus()


@pytest.fixture
def stream(bus: EventBus, clock: Clock) -> PlaybackStream:
    return PlaybackStream(bus, clock=clock)


@pytest.fixture
def page(bus: EventBus) -> Subscription:
    return bus.subscribe({events.SESSION_START, events.SESSION_PROGRESS, events.SESSION_STOP})


@pytest.fixture
def poller(plex_sessions: Any, stream: PlaybackStream, bus: EventBus) -> SessionPoller:
    return SessionPoller(plex_sessions, stream, bus, config=lambda: SessionsConfig())


def drain(queue: PlaybackStream | Subscription) -> list[Any]:
    found = []
    while True:
        try:
            found.append(queue.get_nowait())
        except asyncio.QueueEmpty:
            return found


def kinds(stream: PlaybackStream) -> list[str]:
    return [e.kind for e in drain(stream)]


async def test_a_session_goes_through_play_pause_resume_and_stop(
    poller: SessionPoller, plex_sessions: Any, stream: PlaybackStream, page: Subscription,
    clock: Clock,
) -> None:  # fmt: skip
    assert await poller.poll_once() is True
    assert kinds(stream) == [] and poller.current() == []

    plex_sessions.play()
    await poller.poll_once()
    (play,) = drain(stream)
    assert (play.kind, play.source, play.rating_key) == ("play", "poll", "1101")
    assert play.session_key == "7"
    assert (play.user_id, play.username, play.grandparent_rating_key) == ("1", "owner", "1000")
    (start,) = drain(page)
    assert start.type == events.SESSION_START
    assert start.data == {
        "session_key": "7", "rating_key": "1101", "media_type": "episode", "user": "owner",
        "title": "The Expanse – S01E01 – Dulcinea", "progress_percent": 0.0,
        "state": "playing", "player": "Living Room TV",
    }  # fmt: skip
    assert poller.is_active(FILE) and poller.active_paths() == {FILE}

    await poller.poll_once()  # nothing changed
    assert kinds(stream) == [] and drain(page) == []

    plex_sessions.update(view_offset_ms=264_000)
    await poller.poll_once()
    assert kinds(stream) == []
    (progress,) = drain(page)
    assert (progress.type, progress.data["progress_percent"]) == (events.SESSION_PROGRESS, 10.0)

    plex_sessions.update(state="paused")
    await poller.poll_once()
    assert kinds(stream) == ["pause"]
    assert drain(page)[0].data["state"] == "paused"

    clock.now += 31  # past the window: a resume is news again
    plex_sessions.update(state="playing")
    await poller.poll_once()
    assert kinds(stream) == ["resume"]
    assert [e.data["state"] for e in drain(page)] == ["playing"]

    plex_sessions.update(state="buffering")
    await poller.poll_once()
    assert kinds(stream) == []  # buffering is still playing

    plex_sessions.stop()
    await poller.poll_once()
    (stop,) = drain(stream)
    assert (stop.kind, stop.view_offset_ms) == ("stop", 264_000)
    assert [e.type for e in drain(page)] == [events.SESSION_PROGRESS, events.SESSION_STOP]
    assert not poller.is_active(FILE) and poller.current() == []


async def test_a_new_item_in_the_same_session_is_a_stop_then_a_play(
    poller: SessionPoller, plex_sessions: Any, stream: PlaybackStream
) -> None:
    plex_sessions.play()
    await poller.poll_once()
    plex_sessions.play(rating_key="1102", file_paths=["/data/tv/e2.mkv"])
    await poller.poll_once()
    assert [(e.kind, e.rating_key) for e in drain(stream)] == [
        ("play", "1101"), ("stop", "1101"), ("play", "1102"),
    ]  # fmt: skip
    assert poller.active_paths() == {"/data/tv/e2.mkv"}


async def test_passing_the_scrobble_percent_is_one_scrobble(
    poller: SessionPoller, plex_sessions: Any, stream: PlaybackStream
) -> None:
    plex_sessions.play(view_offset_ms=2_000_000)
    await poller.poll_once()
    assert kinds(stream) == ["play"]
    plex_sessions.update(view_offset_ms=2_380_000)  # 90.15 %
    await poller.poll_once()
    (scrobble,) = drain(stream)
    assert (scrobble.kind, scrobble.source, scrobble.rating_key) == ("scrobble", "poll", "1101")
    plex_sessions.update(view_offset_ms=2_500_000)
    await poller.poll_once()
    assert kinds(stream) == []


async def test_the_scrobble_percent_follows_the_settings(
    plex_sessions: Any, stream: PlaybackStream, bus: EventBus
) -> None:
    settings = SessionsConfig(scrobble_percent=95)
    poller = SessionPoller(plex_sessions, stream, bus, config=lambda: settings)
    plex_sessions.play(view_offset_ms=2_400_000)  # 90.9 %
    await poller.poll_once()
    assert kinds(stream) == ["play"]
    settings = SessionsConfig(scrobble_percent=90)
    await poller.poll_once()
    assert kinds(stream) == ["scrobble"]


async def test_no_poll_scrobble_when_a_webhook_said_so_minutes_earlier(
    poller: SessionPoller, plex_sessions: Any, stream: PlaybackStream, clock: Clock
) -> None:
    stream.offer(Playback(kind="scrobble", rating_key="1101", source="plex_webhook",
                               user_id="1", username="owner"))  # fmt: skip
    assert kinds(stream) == ["scrobble"]
    clock.now += 240
    plex_sessions.play(view_offset_ms=2_600_000)
    await poller.poll_once()
    assert kinds(stream) == ["play"]
    assert stream.duplicates == 1


async def test_a_webhook_and_a_poll_seeing_the_same_play_are_one_event(
    poller: SessionPoller, plex_sessions: Any, stream: PlaybackStream, clock: Clock
) -> None:
    webhook = Playback(kind="play", rating_key="1101", source="plex_webhook",
                            user_id="1", username="owner")  # fmt: skip
    assert stream.offer(webhook) == "queued"
    clock.now += 9
    plex_sessions.play()
    await poller.poll_once()
    assert [e.source for e in drain(stream)] == ["plex_webhook"]
    # A resume within the window is the same class as the play; a pause is not.
    assert stream.offer(Playback(kind="resume", rating_key="1101", source="tautulli",
                                      username="OWNER")) == "duplicate"  # fmt: skip
    assert stream.offer(Playback(kind="pause", rating_key="1101", source="tautulli",
                                      username="owner")) == "queued"  # fmt: skip
    clock.now += 31
    assert stream.offer(webhook) == "queued"


async def test_another_user_or_item_is_not_a_duplicate(stream: PlaybackStream) -> None:
    base: dict[str, Any] = {"kind": "play", "source": "plex_webhook"}
    assert stream.offer(Playback(rating_key="1", user_id="1", **base)) == "queued"
    assert stream.offer(Playback(rating_key="1", user_id="2", **base)) == "queued"
    assert stream.offer(Playback(rating_key="2", user_id="1", **base)) == "queued"
    assert stream.stats() == {"waiting": 3, "queued": 3, "duplicates": 0, "overflowed": 0,
                              "foreign": 0}  # fmt: skip


async def test_the_stream_is_bounded_and_iterable(bus: EventBus) -> None:
    stream = PlaybackStream(bus, maxsize=2)
    sub = bus.subscribe({events.PLAYBACK})
    for key in ("1", "2", "3"):
        stream.offer(Playback(kind="play", rating_key=key, source="poll"))
    assert stream.overflowed == 1
    seen = []
    async for event in stream:
        seen.append(event.rating_key)
        if stream.qsize() == 0:
            break
    assert seen == ["2", "3"]
    assert [e.data["rating_key"] for e in drain(sub)] == ["1", "2", "3"]


async def test_a_plex_that_is_down_is_logged_once_and_polling_goes_on(
    poller: SessionPoller, plex_sessions: Any, stream: PlaybackStream,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    plex_sessions.play()
    await poller.poll_once()
    drain(stream)
    plex_sessions.error = ConnectionError("Plex is not answering")
    with caplog.at_level(logging.INFO, logger="cacherr.sources.sessions"):
        for _ in range(3):
            assert await poller.poll_once() is False
        assert poller.plex_down
        # What was playing stays protected while Plex cannot say otherwise.
        assert poller.is_active(FILE) and kinds(stream) == []
        plex_sessions.error = None
        plex_sessions.stop()
        assert await poller.poll_once() is True
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "still polling" in warnings[0].getMessage()
    assert any("available again" in r.getMessage() for r in caplog.records)
    assert kinds(stream) == ["stop"] and not poller.plex_down


async def test_the_running_poller_survives_errors_and_stops_cleanly(
    plex_sessions: Any, stream: PlaybackStream, bus: EventBus
) -> None:
    plex_sessions.error = RuntimeError("boom")
    poller = SessionPoller(
        plex_sessions, stream, bus, config=lambda: SessionsConfig(poll_interval_s=1)
    )
    await poller.start()
    await until(lambda: poller.polls == 1)
    assert plex_sessions.calls == 1 and poller.plex_down
    poller.wake()  # the task is still running: a second poll fails the same way
    await until(lambda: poller.polls == 2)
    await poller.close()


async def test_nothing_is_polled_while_plex_is_not_configured(
    plex_sessions: Any, stream: PlaybackStream, bus: EventBus
) -> None:
    asked: list[bool] = []

    def not_configured() -> bool:
        asked.append(False)
        return False

    poller = SessionPoller(plex_sessions, stream, bus, should_poll=not_configured)
    await poller.start()
    await until(lambda: len(asked) == 1)
    poller.wake()
    await until(lambda: len(asked) == 2)  # two turns of the loop, neither polled
    await poller.close()
    assert plex_sessions.calls == 0 and poller.polls == 0


async def test_get_sessions_without_plex_configured_is_an_empty_list(
    client: Client, api_key: dict[str, str]
) -> None:
    poller = client.app[keys.SESSION_POLLER]
    assert await poller.poll_once() is False  # Plex is not configured: nothing answers
    assert poller.current() == []
    resp = await client.get("/api/sessions", headers=api_key)
    assert resp.status == 200
    body = await resp.json()
    assert body["data"] == []
    assert (await client.get("/api/sessions")).status == 401


async def test_the_app_polls_plex_through_its_gateway_and_dedups_with_webhooks(
    aiohttp_client: Any, store: ConfigStore, secret: str, api_key: dict[str, str],
    tmp_path: Path,
) -> None:  # fmt: skip
    """The app's own wiring, on the simulated Plex: a play arrives by webhook (the payload of
    Plex's webhook support article), then shows in `/status/sessions` (the shape
    python-plexapi's `PlexServer.sessions()` reads); the poll adds no second play."""
    world = World(array_root=tmp_path / "array", plex_root="/data", file_bytes=16)
    world.add_show("The Expanse", seasons={1: 3}, year=2015)
    episode = next(i for i in world.items.values() if isinstance(i, Episode))
    server = await start_fake_plex(world)
    try:
        store.save({"plex": {"url": server.url, "token": world.owner.token, "timeout_s": 2,
                             "retries": 0},
                    "sessions": {"poll_interval_s": 3600}})  # fmt: skip
        client = await aiohttp_client(create_app(store))
        assert await client.app[keys.PLEX].wait_settled(5) == "connected"
        poller = client.app[keys.SESSION_POLLER]
        plays = client.app[keys.BUS].subscribe({events.PLAYBACK})

        body = webhooks.from_world("media.play", world, world.owner, episode)
        resp = await client.post("/api/webhooks/plex", params={"secret": secret},
                                 data=webhooks.form(body))  # fmt: skip
        assert resp.status == 202
        world.start_session(world.owner, episode, offset_ms=episode.duration_ms // 4)
        assert await poller.poll_once() is True
        assert [(e.data["kind"], e.data["source"]) for e in drain(plays)] == [
            ("play", "plex_webhook")
        ]

        resp = await client.get("/api/sessions", headers=api_key)
        (session,) = (await resp.json())["data"]
        assert session["rating_key"] == str(episode.rating_key)
        assert session["progress_percent"] == 25.0 and session["state"] == "playing"
        assert session["file_paths"] == [p.file for m in episode.media for p in m.parts]
        assert world.owner.token not in await resp.text()
        await client.close()  # before its Plex goes away
    finally:
        await server.close()
