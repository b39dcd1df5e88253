"""One clock: the handlers, the webhook intake, the reactor and the sweep all read the app's
`keys.CLOCK`, so a test that sets it (before start-up, never by patching) sees one time."""

from __future__ import annotations

from cacherr import events
from cacherr.fakeplex import World

from .flow import AppFactory, Clock, Events, api_key, send, settle
from .test_end_to_end import episode


async def test_handlers_intake_and_the_sweep_read_the_apps_clock(
    start_app: AppFactory, world: World, clock: Clock
) -> None:
    client = await start_app(sweep={"interval_s": 7200})
    seen = Events(client)
    clock.advance(2)

    health = (await (await client.get("/api/health")).json())["data"]
    assert health["uptime_s"] == 7200.0

    await send(client, "media.play", episode(world, "Bluey", 1, 1), world.owner)
    (playback,) = seen.of(events.PLAYBACK)
    assert playback["received_at"] == clock.now
    (reaction,) = seen.of(events.REACTION)
    assert reaction["latency_s"] == 0.0  # received and queued at the same instant of the clock

    assert (await client.post("/api/sweep", headers=api_key(client))).status == 202
    await settle(client)
    sweep = (await (await client.get("/api/sweep", headers=api_key(client))).json())["data"]
    assert sweep["last_finished_at"] == clock.now
