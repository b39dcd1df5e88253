"""Bursts: many people press play at once; the one queue serves everyone's next episode first.

The webhooks are Plex's `media.play` multipart bodies as `cacherr.fakeplex.webhooks` builds
them (shape from Plex's support article "Webhooks", support.plex.tv/articles/115002267687):
one per person, each for the first episode of their own show, on the daemon's own server.
"""

from __future__ import annotations

import os
from pathlib import Path

from cacherr import events, keys
from cacherr.fakeplex import World, webhooks

from .flow import AppFactory, Events, settle

PEOPLE = 7


async def test_every_persons_first_next_episode_starts_before_anyones_second(
    start_app: AppFactory, world: World, tmp_path: Path
) -> None:
    """With the mover holding every operation back, seven people (the owner, a Home user and
    friends) play at once; once it ends, the seven next episodes are copied first, the
    friends' among them, before the episode anyone is playing or their second next one."""
    people = [world.owner, world.user("alice"), world.user("bob")]
    people += [world.add_user(f"friend{i}") for i in range(PEOPLE - len(people))]
    shows = [world.add_show(f"Burst {i}", seasons={1: 4}) for i in range(PEOPLE)]
    mover_pid = tmp_path / "mover.pid"
    mover_pid.write_text(str(os.getpid()))  # a live process: the mover "runs"
    client = await start_app(cache={"copy_concurrency": 1}, mover={"pid_file": str(mover_pid)})
    seen = Events(client)
    secret = client.app[keys.CONFIG].current.webhook.secret
    assert secret is not None
    for person, show in zip(people, shows, strict=True):
        first = show.seasons[0].episodes[0]
        form = webhooks.form(webhooks.from_world("media.play", world, person, first))
        resp = await client.post(
            "/api/webhooks/plex", data=form, params={"secret": secret.get_secret_value()}
        )
        assert resp.status == 202
    await client.app[keys.REACTOR].run_until_idle()
    assert {r["user"] for r in seen.of(events.REACTION)} == {p.title for p in people}

    mover_pid.unlink()
    await settle(client)

    started = [e["path"].rsplit("/", 1)[-1] for e in seen.of(events.OPERATION_STARTED)]
    assert len(started) == 3 * PEOPLE  # each: the episode playing and the next two
    assert sorted(started[:PEOPLE]) == sorted(f"{s.title} - S01E02.mkv" for s in shows)
    # Then the episode each person is playing (next-episode first, within one person).
    assert all("S01E01" in name for name in started[PEOPLE : 2 * PEOPLE])


async def test_one_account_on_many_screens_gets_every_next_episode_first(
    start_app: AppFactory, world: World, tmp_path: Path
) -> None:
    """A household shares the owner's account: five screens start five shows at once. With
    the mover holding operations back, then ending, the five next episodes are copied
    before any episode being played or any second next one: the fair order counts each
    play, not only each person."""
    shows = [world.add_show(f"Screen {i}", seasons={1: 4}) for i in range(5)]
    mover_pid = tmp_path / "mover.pid"
    mover_pid.write_text(str(os.getpid()))
    client = await start_app(cache={"copy_concurrency": 1}, mover={"pid_file": str(mover_pid)})
    seen = Events(client)
    secret = client.app[keys.CONFIG].current.webhook.secret
    assert secret is not None
    for show in shows:
        first = show.seasons[0].episodes[0]
        form = webhooks.form(webhooks.from_world("media.play", world, world.owner, first))
        resp = await client.post(
            "/api/webhooks/plex", data=form, params={"secret": secret.get_secret_value()}
        )
        assert resp.status == 202
    await client.app[keys.REACTOR].run_until_idle()

    mover_pid.unlink()
    await settle(client)

    started = [e["path"].rsplit("/", 1)[-1] for e in seen.of(events.OPERATION_STARTED)]
    assert len(started) == 3 * len(shows)
    assert sorted(started[: len(shows)]) == [f"{s.title} - S01E02.mkv" for s in shows]
    assert sorted(started[len(shows) : 2 * len(shows)]) == sorted(
        f"{s.title} - S01E01.mkv" for s in shows
    )
