"""Plex's notification socket as a trigger, on the real app against the simulated Plex.

The simulated Plex pushes `{"NotificationContainer": {"type": "playing",
"PlaySessionStateNotification": [{sessionKey, ratingKey, key, state, viewOffset, ...}]}}` on
`/:/websockets/notifications` to the owner's token, the shape python-plexapi's
`AlertListener` (plexapi/alert.py), Tautulli's `plexpy/web_socket.py` and Home Assistant's
Plex integration read. A notice carries no user, so the daemon reads `/status/sessions` at
once (as Tautulli and Home Assistant do).
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from cacherr import events, keys
from cacherr.fakeplex import Episode, FakePlexServer, World, webhooks
from cacherr.sources.plex_socket import parse_notification
from cacherr.sources.sessions import SOCKET_SLOWDOWN
from tests.reactor.conftest import cache_root, clock, fake, start_app, world
from tests.reactor.flow import AppFactory, Client, settle
from tests.waiting import until

__all__ = ["cache_root", "clock", "fake", "start_app", "world"]  # fixtures used here


async def listening(client: Client) -> None:
    """The socket is up and the polls of start-up (its timer's, the connect's) are done."""
    socket, poller = client.app[keys.PLEX_SOCKET], client.app[keys.SESSION_POLLER]
    await until(lambda: socket.healthy and poller.polls >= 2)


def first_two(world: World) -> tuple[Episode, Episode]:
    show = next(i for i in world.items.values() if getattr(i, "title", "") == "Bluey")
    episodes = show.seasons[0].episodes  # type: ignore[union-attr]
    return episodes[0], episodes[1]


def plays(client: Client) -> list[dict[str, Any]]:
    """Every playback event the stream accepted, as the page hears them."""
    seen: list[dict[str, Any]] = []
    client.app[keys.BUS].listen(
        lambda e: seen.append(e.data) if e.type == events.PLAYBACK else None
    )
    return seen


async def test_a_play_heard_on_the_socket_caches_the_next_episode_without_webhook_or_timer(
    start_app: AppFactory, world: World
) -> None:
    client = await start_app(sessions={"poll_interval_s": 3600})
    await listening(client)
    heard = plays(client)
    first, second = first_two(world)

    world.start_session(world.owner, first, player="Living Room TV")
    await until(lambda: any(e["kind"] == "play" for e in heard))
    await settle(client)

    (play,) = [e for e in heard if e["kind"] == "play"]
    assert (play["source"], play["rating_key"], play["user_id"]) == (
        "socket", str(first.rating_key), "1",
    )  # fmt: skip
    engine = client.app[keys.CACHE_ENGINE]
    held = {c.plex_path for c in await engine.store.for_user("1")}
    assert second.media[0].parts[0].file in held
    # The poll interval is an hour: only the socket can have woken it.
    assert client.app[keys.SESSION_POLLER].interval_s() == 3600 * SOCKET_SLOWDOWN


async def test_the_socket_reconnects_after_plex_drops_it_and_still_triggers(
    start_app: AppFactory, world: World
) -> None:
    client = await start_app(sessions={"poll_interval_s": 3600})
    socket = client.app[keys.PLEX_SOCKET]
    await until(lambda: socket.healthy)
    assert socket.connects == 1

    world.drop_notification_sockets()  # Plex restarting
    await until(lambda: socket.connects == 2 and socket.healthy)

    heard = plays(client)
    first, _ = first_two(world)
    world.start_session(world.user("alice"), first)
    await until(lambda: any(e["kind"] == "play" for e in heard))
    assert heard[0]["source"] == "socket" and heard[0]["username"] == "alice"


async def test_the_poller_slows_while_the_socket_is_healthy_and_not_otherwise(
    start_app: AppFactory, fake: FakePlexServer
) -> None:
    client = await start_app(sessions={"poll_interval_s": 5})
    socket, poller = client.app[keys.PLEX_SOCKET], client.app[keys.SESSION_POLLER]
    await until(lambda: socket.healthy)
    assert poller.interval_s() == 5 * SOCKET_SLOWDOWN
    await socket.close()
    assert not socket.healthy and poller.interval_s() == 5


async def test_a_socket_play_and_the_webhook_for_it_are_one_reaction(
    start_app: AppFactory, world: World
) -> None:
    """The webhook is the owner's own play (`owner` and `user` set, `Account.id` their plex.tv
    id: Plex's webhook support article); the session shows the owner as 1."""
    client = await start_app(sessions={"poll_interval_s": 3600})
    stream = client.app[keys.PLAYBACK]
    await listening(client)
    heard = plays(client)
    first, _ = first_two(world)

    world.start_session(world.owner, first)
    await until(lambda: any(e["kind"] == "play" for e in heard))
    secret = client.app[keys.CONFIG].current.webhook.secret
    assert secret is not None
    body = webhooks.from_world("media.play", world, world.owner, first)
    resp = await client.post(
        "/api/webhooks/plex",
        params={"secret": secret.get_secret_value()},
        data=webhooks.form(body),
    )
    assert resp.status == 202
    assert (await resp.json())["data"]["status"] == "duplicate"
    await settle(client)
    assert [e["source"] for e in heard if e["kind"] == "play"] == ["socket"]
    assert stream.duplicates == 1


def test_frames_that_are_not_session_notices_are_ignored() -> None:
    """Plex also pushes `timeline`, `activity`, `status` containers (Tautulli's web_socket.py
    handles `playing` and `timeline`); only `playing` entries with both keys count."""
    assert parse_notification("not json") == []
    assert parse_notification('{"NotificationContainer": {"type": "activity", "size": 1}}') == []
    assert parse_notification('{"NotificationContainer": {"type": "playing"}}') == []
    frame = (
        '{"NotificationContainer": {"type": "playing", "size": 2, "PlaySessionStateNotification":'
        ' [{"sessionKey": "23", "ratingKey": "9725", "key": "/library/metadata/9725",'
        ' "viewOffset": 30000, "state": "paused"}, {"state": "playing"}]}}'
    )
    (notice,) = parse_notification(frame)
    assert (notice.session_key, notice.rating_key, notice.state, notice.view_offset_ms) == (
        "23", "9725", "paused", 30000,
    )  # fmt: skip


async def test_the_simulated_plex_pushes_session_notices_to_the_owner_only(
    fake: FakePlexServer, world: World
) -> None:
    """The frame python-plexapi's AlertListener unwraps (`NotificationContainer`), whose
    `type: "playing"` entries Tautulli (`PlaySessionStateNotification[0]`) and Home Assistant
    (`sessionKey`, `state`, `viewOffset`, `ratingKey`) read; `state` goes playing → paused →
    stopped as the session does."""
    url = fake.url.replace("http", "ws", 1) + "/:/websockets/notifications"
    async with aiohttp.ClientSession() as http:
        alice = {"X-Plex-Token": world.user("alice").token}
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await http.ws_connect(url, headers=alice)
        async with http.ws_connect(url, headers={"X-Plex-Token": world.owner.token}) as ws:
            first, _ = first_two(world)
            session = world.start_session(world.owner, first, offset_ms=5000)
            world.pause_session(session)
            world.stop_session(session)
            frames = [json.loads(await ws.receive_str(timeout=5)) for _ in range(3)]
    states = []
    for frame in frames:
        container = frame["NotificationContainer"]
        assert (container["type"], container["size"]) == ("playing", 1)
        (entry,) = container["PlaySessionStateNotification"]
        key = str(first.rating_key)
        assert (entry["sessionKey"], entry["ratingKey"], entry["key"]) == (
            str(session.session_key), key, f"/library/metadata/{key}",
        )  # fmt: skip
        assert entry["viewOffset"] == 5000 and "user" not in json.dumps(entry).lower()
        states.append(entry["state"])
    assert states == ["playing", "paused", "stopped"]
