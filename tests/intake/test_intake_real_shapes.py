"""Webhooks and Tautulli as they arrive in 2026, on the real app against the simulated Plex.

Sources: Plex's webhook support article (support.plex.tv/articles/115002267687-webhooks):
webhooks go to the owner's account and "travel" with them to other servers, `owner`/`user`
flags say whose event it is, `Server.uuid` names the server; the owner's `Account.id` is
their plex.tv account id (python-plexapi's `MyPlexAccount.id`), while `/status/sessions`
calls the owner 1. Tautulli's notification parameters: `{user_id}` (plex.tv id),
`{server_machine_id}` ("the unique identifier for your Plex Server"), `{duration}` (minutes).
"""

from __future__ import annotations

import json
from typing import Any

from cacherr import keys
from cacherr.fakeplex import World, webhooks
from cacherr.sources.tautulli import event_from_tautulli, parse_tautulli_payload
from tests.intake.test_intake_socket import first_two, listening, plays
from tests.reactor.conftest import cache_root, clock, fake, start_app, world
from tests.reactor.flow import AppFactory, Client, api_key, settle
from tests.waiting import until

__all__ = ["cache_root", "clock", "fake", "start_app", "world"]  # fixtures used here
FRIEND_SERVER = "f00dfeedf00dfeedf00dfeedf00dfeedf00dfeed"


async def post_plex(client: Client, body: dict[str, Any]) -> dict[str, Any]:
    secret = client.app[keys.CONFIG].current.webhook.secret
    assert secret is not None
    resp = await client.post(
        "/api/webhooks/plex",
        params={"secret": secret.get_secret_value()},
        data=webhooks.form(body),
    )
    assert resp.status == 202, await resp.text()
    data: dict[str, Any] = (await resp.json())["data"]
    return data


async def post_tautulli(client: Client, body: dict[str, Any]) -> dict[str, Any]:
    secret = client.app[keys.CONFIG].current.webhook.secret
    assert secret is not None
    resp = await client.post(
        "/api/webhooks/tautulli", params={"secret": secret.get_secret_value()}, json=body
    )
    assert resp.status == 202, await resp.text()
    data: dict[str, Any] = (await resp.json())["data"]
    return data


async def test_plays_and_new_items_on_other_servers_are_ignored_and_counted(
    start_app: AppFactory, world: World, cache_root: Any
) -> None:
    client = await start_app()
    await listening(client)
    stream = client.app[keys.PLAYBACK]
    assert stream.server_id == world.machine_identifier
    first, _ = first_two(world)
    heard = plays(client)

    # The owner plays on a friend's server: same rating key, another server's item.
    for event in ("media.play", "library.new"):
        body = webhooks.payload(
            event, world.owner, first, server_uuid=FRIEND_SERVER, own_server=False
        )
        assert (await post_plex(client, body))["status"] == "foreign"
    tautulli = {
        "action": "play",
        "rating_key": str(first.rating_key),
        "user_id": str(world.owner.account_id),
        "server_machine_id": FRIEND_SERVER,
    }
    assert (await post_tautulli(client, tautulli))["status"] == "foreign"
    await settle(client)

    assert heard == [] and stream.foreign == 3
    assert list(cache_root.rglob("*.mkv")) == []
    status = (await (await client.get("/api/status", headers=api_key(client))).json())["data"]
    assert status["playback"]["foreign"] == 3
    assert status["playback"]["notification_socket"]["connected"] is True
    metrics = await (await client.get("/metrics", headers=api_key(client))).text()
    assert 'cacherr_playback_events_total{outcome="foreign"} 3' in metrics

    # The same play on our own server is taken.
    body = webhooks.from_world("media.play", world, world.owner, first)
    assert (await post_plex(client, body))["status"] == "queued"


async def test_other_servers_plays_are_ignored_also_without_the_notification_socket(
    start_app: AppFactory, world: World, fake: Any, cache_root: Any
) -> None:
    """No notification socket (a reverse proxy that passes no websockets, and no `/identity`
    on the way): the server's id still comes from the gateway's connection to Plex's `/`
    (python-plexapi's `PlexServer.machineIdentifier`), so a friend's play stays out."""
    for route in ("/:/websockets/notifications", "/identity"):
        fake.faults.rule(route=route).down = True
    client = await start_app()
    stream = client.app[keys.PLAYBACK]
    await until(lambda: stream.server_id == world.machine_identifier)
    first, _ = first_two(world)
    body = webhooks.payload(
        "media.play", world.owner, first, server_uuid=FRIEND_SERVER, own_server=False
    )
    assert (await post_plex(client, body))["status"] == "foreign"
    await settle(client)
    assert list(cache_root.rglob("*.mkv")) == []
    assert client.app[keys.PLEX_SOCKET].healthy is False


async def test_the_owner_is_one_user_by_plextv_id_and_by_1(
    start_app: AppFactory, world: World
) -> None:
    client = await start_app()
    await listening(client)
    await client.app[keys.PLEX_USERS].refresh()  # learns the owner's plex.tv account id
    heard = plays(client)
    first, second = first_two(world)

    # A Tautulli play names the owner by their plex.tv id ...
    tautulli = {"action": "play", "rating_key": str(first.rating_key), "media_type": "episode",
                "grandparent_rating_key": str(first.season.show.rating_key),
                "user_id": str(world.owner.account_id), "username": world.owner.title,
                "server_machine_id": world.machine_identifier}  # fmt: skip
    assert (await post_tautulli(client, tautulli))["status"] == "queued"
    # ... the session poll sees the same play as user 1: one event, one holder of claims.
    world.start_session(world.owner, first)
    await until(lambda: client.app[keys.PLAYBACK].duplicates == 1)
    await settle(client)
    assert [(e["kind"], e["user_id"]) for e in heard] == [("play", "1")]
    held = {c.plex_path for c in await client.app[keys.CACHE_ENGINE].store.for_user("1")}
    assert second.media[0].parts[0].file in held
    assert world.owner.account_id != 1


def test_tautullis_duration_is_minutes() -> None:
    raw = json.dumps({"action": "play", "rating_key": "1101", "duration": "44"}).encode()
    event = event_from_tautulli(parse_tautulli_payload(raw), received_at=0.0)
    assert event is not None and event.duration_ms == 44 * 60_000
    raw = json.dumps({"action": "play", "rating_key": "1101", "duration": "44",
                      "duration_ms": "2640000"}).encode()  # fmt: skip
    event = event_from_tautulli(parse_tautulli_payload(raw), received_at=0.0)
    assert event is not None and event.duration_ms == 2_640_000


def test_a_webhook_from_our_server_for_another_user_keeps_their_plextv_id() -> None:
    """`owner: true, user: false`: a shared user's play on the owner's server."""
    from cacherr.sources.plex_webhook import event_from_plex, parse_plex_payload

    world = World(array_root="/nonexistent", create_files=False)
    show = world.add_show("Bluey", seasons={1: 2})
    bob = world.add_user("bob", kind="shared")
    body = webhooks.from_world("media.play", world, bob, show.seasons[0].episodes[0])
    assert (body["owner"], body["user"]) == (True, False)
    event = event_from_plex(parse_plex_payload(json.dumps(body).encode()), received_at=0.0)
    assert event is not None and (event.user_id, event.username) == (str(bob.id), "bob")
    assert event.server_id == world.machine_identifier
