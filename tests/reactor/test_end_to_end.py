"""The whole flow on the real app: Plex webhooks → claims → plan → executor → files on disk.

A simulated Plex serves the library; the media are real files under an array folder, the
cache is a real folder, the state is real SQLite. Work is driven to completion with the
workers' `run_until_idle()`, never with sleeps; time passes on an injected clock.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cacherr import events, keys
from cacherr.claims import Claim, ClaimStore
from cacherr.db import DB_NAME, Database
from cacherr.fakeplex import Episode, Movie, World
from cacherr.files.names import backup_path
from tests.waiting import until

from .flow import AppFactory, Client, Clock, Events, api_key, send, settle


def episode(world: World, show: str, season: int, number: int) -> Episode:
    for item in world.items.values():
        if (
            isinstance(item, Episode)
            and item.season.show.title == show
            and (item.parent_index, item.index) == (season, number)
        ):
            return item
    raise KeyError((show, season, number))


def movie(world: World, title: str) -> Movie:
    return next(i for i in world.items.values() if isinstance(i, Movie) and i.title == title)


def files_of(world: World, item: Episode | Movie) -> list[Path]:
    return [world.physical_path(part) for media in item.media for part in media.parts]


def cache_path(world: World, cache_root: Path, array_path: Path) -> Path:
    return cache_root / array_path.relative_to(world.array_root)


def is_cached(world: World, cache_root: Path, item: Episode | Movie) -> bool:
    """Served from the cache: the copy there, the original hidden as `.plexcached`."""
    for path in files_of(world, item):
        copy, backup = cache_path(world, cache_root, path), backup_path(path)
        if path.exists() or not backup.exists() or not copy.exists():
            return False
        assert copy.read_bytes() == backup.read_bytes()
    return True


def is_on_array(world: World, cache_root: Path, item: Episode | Movie) -> bool:
    """Back home: the original under its name, nothing on the cache, no backup."""
    return all(
        path.exists()
        and not backup_path(path).exists()
        and not cache_path(world, cache_root, path).exists()
        for path in files_of(world, item)
    )


async def claims_of(client: Client, user_id: str) -> set[tuple[str, str]]:
    """(file name, source) of a holder's claims."""
    store = client.app[keys.CACHE_ENGINE].store
    return {(c.plex_path.rsplit("/", 1)[-1], c.source) for c in await store.for_user(user_id)}


async def test_a_play_caches_the_next_episodes_across_a_season_boundary(
    start_app: AppFactory, world: World, cache_root: Path, config_dir: Path
) -> None:
    client = await start_app(cache={"copy_concurrency": 1})  # one at a time: the order shows
    seen = Events(client)
    await send(client, "media.play", episode(world, "The Expanse", 1, 3), world.owner)

    for number in ((1, 3), (2, 1), (2, 2)):
        assert is_cached(world, cache_root, episode(world, "The Expanse", *number)), number
    assert is_on_array(world, cache_root, episode(world, "The Expanse", 2, 3))
    assert is_on_array(world, cache_root, episode(world, "The Expanse", 1, 2))
    subtitle = cache_root / "tv/The Expanse/Season 02/The Expanse - S02E01.en.srt"
    assert (
        subtitle.exists()
        and backup_path(world.array_root / subtitle.relative_to(cache_root)).exists()
    )
    # The next episode is copied before the one playing.
    started = [e["path"] for e in seen.of(events.OPERATION_STARTED)]
    assert "S02E01" in started[0] and started.index(next(p for p in started if "S01E03" in p)) > 1
    (reaction,) = seen.of(events.REACTION)
    assert reaction["cached"] == 6 and reaction["user"] == "owner" and reaction["latency_s"] >= 0
    assert "S01E03" in reaction["message"]
    # The mover leaves the cached files (and their subtitles) alone.
    listed = (config_dir / "mover_exclude.txt").read_text().splitlines()
    assert str(cache_root / "tv/The Expanse/Season 02/The Expanse - S02E01.mkv") in listed
    assert str(subtitle) in listed


async def test_a_scrobble_slides_the_window_and_starts_retention(
    start_app: AppFactory, world: World, cache_root: Path
) -> None:
    client = await start_app(cache={"current_item": True, "next_episodes": 1})
    first, second, third = (episode(world, "Bluey", 1, n) for n in (1, 2, 3))
    await send(client, "media.play", first, world.owner)
    assert await claims_of(client, "1") == {
        ("Bluey - S01E01.mkv", "playing"),
        ("Bluey - S01E02.mkv", "next_up"),
    }
    await send(client, "media.scrobble", first, world.owner)
    assert await claims_of(client, "1") == {
        ("Bluey - S01E02.mkv", "next_up"),
        ("Bluey - S01E03.mkv", "next_up"),
    }
    assert is_cached(world, cache_root, third)
    assert is_cached(world, cache_root, first)  # unclaimed, kept for its retention
    row = await client.app[keys.DB].fetchone(
        "SELECT released_at FROM managed_files WHERE plex_path LIKE '%S01E01.mkv'"
    )
    assert row is not None and row[0] is not None
    assert is_cached(world, cache_root, second)


async def test_two_users_on_one_show_each_keep_their_window(
    start_app: AppFactory, world: World, cache_root: Path
) -> None:
    client = await start_app()
    bob = world.user("bob")
    await send(client, "media.play", episode(world, "The Expanse", 1, 1), world.owner)
    await send(client, "media.play", episode(world, "The Expanse", 2, 1), bob)
    await send(client, "media.play", episode(world, "The Expanse", 1, 2), world.owner)
    owner = {name for name, _ in await claims_of(client, "1") if name.endswith(".mkv")}
    assert owner == {f"The Expanse - {c}.mkv" for c in ("S01E02", "S01E03", "S02E01")}
    theirs = {name for name, _ in await claims_of(client, str(bob.id)) if name.endswith(".mkv")}
    assert theirs == {f"The Expanse - {c}.mkv" for c in ("S02E01", "S02E02", "S02E03")}
    for season, number in ((1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (2, 3)):
        assert is_cached(world, cache_root, episode(world, "The Expanse", season, number))


async def test_a_movie_play_caches_the_movie(
    start_app: AppFactory, world: World, cache_root: Path
) -> None:
    client = await start_app()
    heat = movie(world, "Heat")
    await send(client, "media.play", heat, world.user("alice"))
    assert is_cached(world, cache_root, heat)
    assert await claims_of(client, str(world.user("alice").id)) == {("Heat (1995).mkv", "playing")}


async def test_a_new_episode_inside_a_window_is_cached(
    start_app: AppFactory, world: World, cache_root: Path
) -> None:
    client = await start_app()
    await send(client, "media.play", episode(world, "The Expanse", 2, 2), world.owner)
    show = episode(world, "The Expanse", 2, 2).season.show
    new = world.add_episode(show, 2, subtitles=["en"])
    assert is_on_array(world, cache_root, new)
    await send(client, "library.new", new, world.owner)
    assert is_cached(world, cache_root, new)
    assert ("The Expanse - S02E04.mkv", "next_up") in await claims_of(client, "1")


async def test_eviction_sends_the_unclaimed_file_back_first(
    start_app: AppFactory, world: World, cache_root: Path
) -> None:
    # Room for three episodes below the eviction threshold (95% of 13 000 bytes).
    client = await start_app(cache={"next_episodes": 1, "limit": "13000B"})
    first, second, third = (episode(world, "Bluey", 1, n) for n in (1, 2, 3))
    await send(client, "media.play", first, world.owner)
    await send(client, "media.play", movie(world, "Heat"), world.user("bob"))
    assert is_cached(world, cache_root, movie(world, "Heat"))
    await send(client, "media.scrobble", first, world.owner)
    # E3 needs room: E1 (no longer claimed) leaves, not Heat (claimed) nor E2.
    assert is_cached(world, cache_root, third)
    assert is_on_array(world, cache_root, first)
    assert is_cached(world, cache_root, second)
    assert is_cached(world, cache_root, movie(world, "Heat"))


async def test_retention_and_the_active_session_guard(
    start_app: AppFactory, world: World, cache_root: Path, clock: Clock
) -> None:
    # bob's plays cause no claims, so only the session guard can keep Heat on the cache.
    client = await start_app(users={"overrides": {"bob": {"enabled": False}}},
                             retention={"hours": 24})  # fmt: skip
    heat = movie(world, "Heat")
    await send(client, "media.play", heat, world.owner)
    await send(client, "media.scrobble", heat, world.owner)
    assert is_cached(world, cache_root, heat)
    clock.advance(23)
    await client.app[keys.SWEEPER].sweep()
    await settle(client)
    assert is_cached(world, cache_root, heat)  # retention not over yet

    session = world.start_session(world.user("bob"), heat)
    poller = client.app[keys.SESSION_POLLER]
    assert await poller.poll_once()
    clock.advance(2)  # retention over while bob plays it: it stays
    await settle(client)
    result = await client.app[keys.SWEEPER].sweep()
    await settle(client)
    assert result.restored == 0 and is_cached(world, cache_root, heat)

    world.stop_session(session)
    assert await poller.poll_once()
    resp = await client.post("/api/sweep", headers=api_key(client))
    assert resp.status == 202
    await settle(client)
    assert is_on_array(world, cache_root, heat)
    assert (await client.get("/api/sweep", headers=api_key(client))).status == 200


async def test_a_dry_run_touches_nothing(
    start_app: AppFactory, world: World, cache_root: Path
) -> None:
    client = await start_app()
    world.set_progress(world.owner, episode(world, "Bluey", 1, 2), 60_000)
    resp = await client.post("/api/sweep", params={"dry_run": "1"}, headers=api_key(client))
    assert resp.status == 200
    plan = (await resp.json())["data"]["plan"]
    paths = [row["path"] for row in plan]
    assert [row["action"] for row in plan] == ["cache"] * 3
    assert all(row["reason"] for row in plan) and "S01E02" in paths[0]
    assert not os.listdir(cache_root) and await claims_of(client, "1") == set()
    assert (await (await client.get("/api/plan", headers=api_key(client))).json())["data"] == plan

    resp = await client.post("/api/sweep", headers=api_key(client))
    assert resp.status == 202
    await settle(client)
    for n in (2, 3, 4):
        assert is_cached(world, cache_root, episode(world, "Bluey", 1, n))


async def test_a_second_sweep_while_one_runs_is_refused(
    start_app: AppFactory, world: World, fake: object
) -> None:
    client = await start_app()
    fake.faults.rule(kind="plextv").latency_ms = 300  # type: ignore[attr-defined]
    assert (await client.post("/api/sweep", headers=api_key(client))).status == 202
    second = await client.post("/api/sweep", headers=api_key(client))
    assert second.status == 409
    await settle(client)
    assert (await client.post("/api/sweep", headers=api_key(client))).status == 202
    await settle(client)


async def test_pins_cache_a_whole_show_and_unpinning_releases_it(
    start_app: AppFactory, world: World, cache_root: Path
) -> None:
    client = await start_app()
    show = episode(world, "Bluey", 1, 1).season.show
    resp = await client.post("/api/pins", json={"rating_key": show.rating_key},
                             headers=api_key(client))  # fmt: skip
    assert resp.status == 201, await resp.text()
    await settle(client)
    for n in (1, 2, 3, 4):
        assert is_cached(world, cache_root, episode(world, "Bluey", 1, n))
    (pin,) = (await (await client.get("/api/pins", headers=api_key(client))).json())["data"]
    assert pin["kind"] == "show" and pin["files"] == 4
    resp = await client.delete(f"/api/pins/{show.rating_key}", headers=api_key(client))
    assert resp.status == 200
    assert (await client.delete("/api/pins/1", headers=api_key(client))).status == 404
    assert await client.app[keys.CACHE_ENGINE].store.for_source("pinned") == []


async def test_a_restart_copies_nothing_again_and_resumes_unfinished_work(
    start_app: AppFactory, world: World, cache_root: Path, config_dir: Path
) -> None:
    client = await start_app()
    await send(client, "media.play", episode(world, "The Expanse", 1, 1), world.owner)
    await client.close()
    # Work claimed but not carried out before the stop: a claim nobody acted on yet.
    db = await Database.open(config_dir / DB_NAME)
    path = "/data/tv/The Expanse/Season 02/The Expanse - S02E02.mkv"
    await ClaimStore(db).upsert([Claim(path, "manual", "1", 500.0, "kept by hand")])
    await db.close()

    client = await start_app(write=False)
    await settle(client)
    row = await client.app[keys.DB].fetchone(
        "SELECT COUNT(*), SUM(rel_path LIKE '%S02E02.mkv') FROM operations WHERE kind = 'cache'"
    )
    assert row is not None and tuple(row) == (7, 1)  # six before the restart, one after
    for season, number in ((1, 1), (1, 2), (1, 3), (2, 2)):
        assert is_cached(world, cache_root, episode(world, "The Expanse", season, number))


async def test_a_file_goes_back_when_its_retention_is_over_not_at_the_next_sweep(
    start_app: AppFactory, world: World, cache_root: Path, clock: Clock
) -> None:
    client = await start_app(
        retention={"hours": 24}, sweep={"on_start": False, "interval_s": 86400}
    )
    heat = movie(world, "Heat")
    await send(client, "media.play", heat, world.owner)
    await send(client, "media.scrobble", heat, world.owner)  # watched: its claims end
    assert is_cached(world, cache_root, heat)
    files = (await (await client.get("/api/files", headers=api_key(client))).json())["data"]
    returns_at = files["items"][0]["returns_at"]
    assert returns_at == pytest.approx(clock() + 24 * 3600, abs=1)

    clock.advance(23.9)
    await settle(client)
    assert is_cached(world, cache_root, heat)
    clock.advance(0.1)  # returns_at, as the page showed it

    async def back() -> bool:
        await settle(client)
        return is_on_array(world, cache_root, heat)

    await until(back, timeout_s=20)
    assert client.app[keys.SWEEPER].last is None  # no sweep did it


def metric_samples(text: str) -> dict[str, float]:
    """`/metrics` text as {sample: value}."""
    lines = (line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#"))
    return {name: float(number) for name, number in lines}


async def test_metrics_time_the_real_reactions_and_sweeps(
    start_app: AppFactory, world: World
) -> None:
    """The latency and duration histograms are fed by the reactor's and sweeper's own events.

    The reaction's latency is read on the app's clock, which stands still in these tests: the
    histogram holds exactly what the `reaction` event said."""
    client = await start_app()
    await settle(client)
    seen = Events(client)
    before = metric_samples(await (await client.get("/metrics", headers=api_key(client))).text())
    await send(client, "media.play", episode(world, "Bluey", 1, 1), world.owner)
    assert (await client.post("/api/sweep", headers=api_key(client))).status == 202
    await settle(client)
    after = metric_samples(await (await client.get("/metrics", headers=api_key(client))).text())
    for histogram in ("cacherr_reaction_latency_seconds", "cacherr_sweep_duration_seconds"):
        assert after[f"{histogram}_count"] - before[f"{histogram}_count"] == 1, histogram
    (reaction,) = seen.of(events.REACTION)
    latency = "cacherr_reaction_latency_seconds_sum"
    assert after[latency] - before[latency] == pytest.approx(reaction["latency_s"])
    sweep = "cacherr_sweep_duration_seconds_sum"
    assert after[sweep] > before[sweep]
