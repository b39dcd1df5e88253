"""Bursts: many people press play at once; the one queue serves everyone's next episode first.

The webhooks are Plex's `media.play` multipart bodies as `cacherr.fakeplex.webhooks` builds
them (shape from Plex's support article "Webhooks", support.plex.tv/articles/115002267687):
one per person, each for the first episode of their own show, on the daemon's own server.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from cacherr import events, keys
from cacherr.claims import UserKind
from cacherr.fakeplex import FakePlexServer, World, webhooks
from cacherr.fakeplex.model import Show
from cacherr.plex.users import PlexUser, effective_policy
from cacherr.reactor.rounds import Window, WindowRounds
from cacherr.reactor.window import episode_window

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


async def test_a_play_being_worked_out_keeps_a_slot_for_its_first_item(
    start_app: AppFactory, world: World, fake: FakePlexServer, tmp_path: Path
) -> None:
    """Two copy slots, the mover holding every copy in its slot. A friend plays a movie
    whose item Plex is slow to answer; meanwhile the owner plays an episode. The owner's next
    episode takes a slot, but the episode the owner plays (deeper in the owner's window)
    leaves the last slot to the friend's movie, still being worked out, which takes it."""
    show = world.add_show("Quick Show", seasons={1: 3})
    movie = world.add_movie("Slow Answer", 2020)
    friend = world.user("bob")
    mover_pid = tmp_path / "mover.pid"
    mover_pid.write_text(str(os.getpid()))  # a live process: the mover "runs"
    client = await start_app(cache={"copy_concurrency": 2, "next_episodes": 1},
                             mover={"pid_file": str(mover_pid)})  # fmt: skip
    seen = Events(client)
    secret = client.app[keys.CONFIG].current.webhook.secret
    assert secret is not None
    fake.faults.rule(route="/library/metadata/{rk}").latency_ms = 1500
    for person, item in ((friend, movie), (world.owner, show.seasons[0].episodes[0])):
        form = webhooks.form(webhooks.from_world("media.play", world, person, item))
        resp = await client.post(
            "/api/webhooks/plex", data=form, params={"secret": secret.get_secret_value()}
        )
        assert resp.status == 202
    await client.app[keys.REACTOR].run_until_idle()
    fake.faults.clear()

    def states() -> dict[str, str]:
        executor = client.app[keys.EXECUTOR]
        return {op.location.plex_path.rsplit("/", 1)[-1]: op.state for op in executor.operations()}

    assert states() == {
        "Quick Show - S01E02.mkv": "waiting",
        "Slow Answer (2020).mkv": "waiting",
        "Quick Show - S01E01.mkv": "queued",
    }
    mover_pid.unlink()
    await settle(client)
    assert len(seen.of(events.OPERATION_COMPLETE)) == 3


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


async def test_windows_handed_over_together_each_report_their_own_files(
    start_app: AppFactory, world: World
) -> None:
    """Three windows handed over at once are written in one round (one survey, one claims
    commit, one plan): alice and bob both start The Expanse S01E01, alice Bluey S01E01 too.
    Each window gets its own claims; the files both claim are reported cached once, for the
    window handed over first, as when the reactions ran one after the other; and every
    file of the three is copied."""
    client = await start_app()
    app = client.app
    engine, library = app[keys.CACHE_ENGINE], app[keys.PLEX_LIBRARY]
    settings = app[keys.CONFIG].current
    rounds = WindowRounds(engine)

    async def window(name: str, title: str, kind: UserKind) -> Window:
        person = world.user(name)
        user = PlexUser(str(person.id), person.username, person.title, kind)
        show = next(s for s in world.items.values() if isinstance(s, Show) and s.title == title)
        episodes = await library.episodes(str(show.rating_key))
        links = episode_window(episodes, episodes[0], user, settings, scrobbled=False)
        policy = effective_policy(user, settings.users, settings.cache)
        return Window(user, policy, str(show.rating_key), links)

    windows = [
        await window("alice", "The Expanse", "home"),
        await window("bob", "The Expanse", "shared"),
        await window("alice", "Bluey", "home"),
    ]
    written = await asyncio.gather(*(rounds.write(w) for w in windows))
    await settle(client)

    # S01E01 playing, S01E02 and S01E03 next, each with its English subtitle.
    assert [len(w.claims) for w in written] == [6, 6, 3]
    assert [w.submitted.cached for w in written] == [6, 0, 3]
    claims = await engine.store.all()
    for w, each in zip(windows, written, strict=True):
        mine = {(c.plex_path, c.user_id) for c in claims if c.show_key == w.key}
        assert {(c.plex_path, w.user.id) for c in each.claims} <= mine
    copied = {p for w in written for p in w.submitted.files}
    assert len(copied) == 9
    for path in copied:
        rel = path.removeprefix("/data/")
        assert (Path(settings.paths.mappings[0].cache) / rel).is_file()
    await rounds.close()
