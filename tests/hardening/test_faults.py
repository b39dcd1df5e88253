"""Faults of the outside world while the daemon works: it stays up, says what is wrong in
`/api/health` and in events, loses nothing and recovers by itself.

Plex down, slow, answering 500 or 429 (the simulated Plex's fault rules) during reactions
and sweeps; plex.tv down; the pool filling up mid-copy (a small tmpfs); cacherr.json edited
into garbage; the database locked by another process.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cacherr import events, keys
from cacherr.app import create_app
from cacherr.config import ConfigStore
from cacherr.fakeplex import FakePlexServer, World
from cacherr.fakeplex.model import Episode
from tests.hardening.conftest import (
    SECRETS,
    Client,
    journal_rows,
    plex_form,
    plex_payload,
    settings_for,
    settle,
    snapshot,
)
from tests.waiting import until


def first_episode(world: World) -> Episode:
    return next(it for it in world.items.values() if isinstance(it, Episode))


async def play(daemon: Client, world: World, episode: Episode | None = None) -> None:
    episode = episode or first_episode(world)
    payload = plex_payload("media.play", world, world.user("alice"), str(episode.rating_key))
    resp = await daemon.post(
        f"/api/webhooks/plex?secret={SECRETS['webhook']}", data=plex_form(payload)
    )
    assert resp.status == 202


async def health(daemon: Client) -> dict[str, Any]:
    resp = await daemon.get("/api/health")
    assert resp.status == 200
    body = await resp.json()
    return dict(body["data"])


def cached(root: Path) -> set[str]:
    return {k for k, (kind, _) in snapshot(root / "cache").items() if kind == "file"}


async def done_rows(daemon: Client) -> int:
    return sum(r["state"] == "done" for r in await journal_rows(daemon.app))


# --- Plex ---------------------------------------------------------------------------


async def test_plex_down_during_a_reaction_then_back(
    daemon: Client, world: World, fake: FakePlexServer, root: Path
) -> None:
    states = daemon.app[keys.BUS].subscribe({events.PLEX_STATE})
    fake.faults.rule().down = True
    await play(daemon, world)

    async def down() -> bool:
        return (await health(daemon))["plex"]["state"] == "down"

    await until(down, 15)
    h = await health(daemon)
    assert h["plex"]["message"]
    assert (await states.get()).data["state"] in ("degraded", "down")
    fake.faults.clear()

    async def recovered() -> bool:
        return (await health(daemon))["plex"]["state"] == "connected"

    await until(recovered, 30)
    # Nothing lost: the play that arrived while Plex was down is acted on now.
    await until(lambda: _has_cache(root), 30)
    await settle(daemon.app)
    assert not [r for r in await journal_rows(daemon.app) if r["state"] == "running"]


async def _has_cache(root: Path) -> bool:
    return bool(cached(root))


ALL_EPISODES = "/library/metadata/{rk}/allLeaves"


async def _asked(fake: FakePlexServer, before: int, route: str | None = None) -> bool:
    """The simulated Plex has received a request (on `route`) since it had `before`."""
    return (fake.counter.total() if route is None else fake.counter.count(route)) > before


async def test_plex_slow_and_erroring_during_a_sweep(
    daemon: Client, world: World, fake: FakePlexServer, root: Path
) -> None:
    episode = first_episode(world)
    world.set_progress(world.user("alice"), episode, 60_000)
    rule = fake.faults.rule()
    rule.latency_ms = 2000
    before = fake.counter.total()
    resp = await daemon.post("/api/sweep")
    assert resp.status == 202
    await until(lambda: _asked(fake, before), 15)
    # The API answers while the sweep still waits on Plex's 2 s answers.
    await health(daemon)
    assert daemon.app[keys.SWEEPER].running
    rule.latency_ms = 0
    rule.error_rate = 1.0
    await daemon.app[keys.SWEEPER].run_until_idle()
    rule.error_rate = 0.0
    fake.faults.clear()
    # plex.tv's 500s leave the state `degraded` (reactions still run) until its next call.
    await until(lambda: _usable(daemon), 30)
    resp = await daemon.post("/api/sweep")
    assert resp.status == 202
    await daemon.app[keys.SWEEPER].run_until_idle()
    await settle(daemon.app)
    assert cached(root), "the sweep after the outage caches the on-deck episode"
    assert await _connected(daemon)


async def _usable(daemon: Client) -> bool:
    return (await health(daemon))["plex"]["state"] in ("connected", "degraded")


async def _connected(daemon: Client) -> bool:
    return bool((await health(daemon))["plex"]["state"] == "connected")


async def test_plex_rate_limits_a_reaction(
    daemon: Client, world: World, fake: FakePlexServer, root: Path
) -> None:
    rule = fake.faults.rule(route=ALL_EPISODES)  # the next episodes of the one played
    rule.too_many_requests = True
    rule.retry_after_s = 1
    await play(daemon, world)
    await until(lambda: _asked(fake, 0, ALL_EPISODES), 15)
    # The API answers while Plex refuses the reaction; nothing is cached meanwhile.
    await health(daemon)
    assert not cached(root)
    fake.faults.clear()
    await until(lambda: _has_cache(root), 30)


async def test_plextv_down_does_not_stop_the_owner_reactions(
    daemon: Client, world: World, fake: FakePlexServer, root: Path
) -> None:
    fake.faults.rule(kind="plextv").down = True
    resp = await daemon.post("/api/sweep")
    assert resp.status == 202
    await daemon.app[keys.SWEEPER].run_until_idle()
    payload = plex_payload("media.play", world, world.owner, str(first_episode(world).rating_key))
    await daemon.post(f"/api/webhooks/plex?secret={SECRETS['webhook']}", data=plex_form(payload))
    await until(lambda: _has_cache(root), 30)
    assert (await health(daemon))["status"] == "ok"
    fake.faults.clear()


# --- the config file and the database -----------------------------------------------


async def test_cacherr_json_edited_into_garbage_while_running(
    daemon: Client, world: World, root: Path
) -> None:
    store = daemon.app[keys.CONFIG]
    errors = daemon.app[keys.BUS].subscribe({events.CONFIG_ERROR, events.CONFIG_RELOADED})
    good = store.path.read_text()
    store.path.write_text('{"cache": {"next_episodes": "many",')
    event = await asyncio.wait_for(errors.get(), 10)
    assert event.type == events.CONFIG_ERROR
    h = await health(daemon)
    assert h["config"]["ok"] is False and "cacherr.json" in h["config"]["message"]
    # The running configuration stays and keeps working.
    assert store.current.cache.next_episodes == 2
    await play(daemon, world)
    await until(lambda: _has_cache(root), 15)
    store.path.write_text(good.replace('"next_episodes": 2', '"next_episodes": 1'))
    event = await asyncio.wait_for(errors.get(), 10)
    assert event.type == events.CONFIG_RELOADED
    assert store.current.cache.next_episodes == 1
    assert (await health(daemon))["config"]["ok"] is True


async def test_the_database_locked_by_another_process(
    daemon: Client, world: World, root: Path
) -> None:
    db_path = daemon.app[keys.CONFIG].config_dir / "cacherr.db"
    holder = await asyncio.to_thread(
        subprocess.Popen,
        ["python3", "-c", _LOCK_UNTIL_TOLD, str(db_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert holder.stdin is not None and holder.stdout is not None
    assert (await asyncio.to_thread(holder.stdout.readline)).strip() == b"locked"
    await play(daemon, world)
    await health(daemon)  # answers while the other process still holds the lock
    assert holder.poll() is None and not cached(root)
    await asyncio.to_thread(holder.communicate, b"release\n", 10)
    await until(lambda: _has_cache(root), 20)
    await settle(daemon.app)
    assert await done_rows(daemon) > 0
    assert (await health(daemon))["database"]["ok"] is True


_LOCK_UNTIL_TOLD = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
db.execute("COMMIT")
"""


# --- the pool filling up -------------------------------------------------------------


@contextlib.contextmanager
def tmpfs(folder: Path, size: str) -> Iterator[Path]:
    """A small tmpfs mounted on `folder` (root only; the test is skipped elsewhere)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.fixture
def small_pool(root: Path) -> Iterator[Path]:
    """A 32 MiB tmpfs as the cache root."""
    with tmpfs(root / "cache", "32m") as pool:
        yield pool


def fill_when_a_copy_starts(folder: Path, pool: Path, stop: threading.Event) -> None:
    """Another writer: as soon as a temp file shows up in `folder`, fill the pool."""
    while not stop.is_set():
        with contextlib.suppress(FileNotFoundError):
            if any(name.endswith(".cacherr-tmp") for name in os.listdir(folder)):
                with contextlib.suppress(OSError), (pool / "filler.bin").open("ab") as out:
                    while True:
                        out.write(b"\0" * 2**20)
                        out.flush()
                return


def big_show(root: Path, file_bytes: int) -> World:
    """Four episodes of `file_bytes` each, and alice to watch them."""
    big = World(array_root=root / "array", plex_root="/data", file_bytes=file_bytes)
    big.add_show("Big", seasons={1: 4})
    big.add_user("alice", kind="home")
    return big


async def start(aiohttp_client: Any, store: ConfigStore) -> Client:
    """The real app on `store`, connected to the simulated Plex, API key on every call."""
    daemon = await aiohttp_client(create_app(store), headers={"X-Api-Key": SECRETS["api_key"]})
    assert await daemon.app[keys.PLEX].wait_settled(5) == "connected"
    return daemon


async def play_while_filling(daemon: Client, big: World, cache: Path, full: Path) -> None:
    """Play Big's first episode; another writer fills `full` as its first copy starts."""
    season = cache / "tv" / "Big" / "Season 01"
    stop = threading.Event()
    filler = threading.Thread(target=fill_when_a_copy_starts, args=(season, full, stop))
    filler.start()
    await play(daemon, big, first_episode(big))
    await settle(daemon.app)
    stop.set()
    filler.join()


async def test_the_pool_filling_up_mid_copy(
    aiohttp_client: Any, root: Path, small_pool: Path
) -> None:
    # 12 MiB episodes for a 32 MiB pool; another writer fills the pool as the first copy
    # starts, so copies run out of space mid-way.
    big = big_show(root, 12 * 2**20)
    array_before = snapshot(root / "array")
    async with FakePlexServer(big) as fake:
        store = ConfigStore.open(root / "config")
        store.save(settings_for(root, fake, big, cache={"next_episodes": 3, "verify": "full"}))
        daemon = await start(aiohttp_client, store)
        await play_while_filling(daemon, big, small_pool, small_pool)
        rows = await journal_rows(daemon.app)
        assert not any(r["state"] == "running" for r in rows)
        ran_out = any(r["error"] and "No space left" in r["error"] for r in rows)
        assert (await health(daemon))["status"] == "ok"
        # Space back: the next play caches what did not fit.
        (small_pool / "filler.bin").unlink()
        await daemon.close()
    # Whatever did not fit was rolled back: no temp file, every original whole, once.
    check_whole(root, small_pool, array_before)
    if not ran_out:  # the other writer came too late (a loaded machine): copies finished
        pytest.skip("the copies finished before the other writer filled the pool")


def check_whole(root: Path, small_pool: Path, array_before: dict[str, Any]) -> None:
    assert not [p for p in small_pool.rglob("*") if p.name.endswith(".cacherr-tmp")]
    for rel, (kind, digest) in array_before.items():
        if kind != "file":
            continue
        live, copy = root / "array" / rel, small_pool / rel
        backup = live.with_name(live.name + ".plexcached")
        assert live.exists() != copy.exists(), rel
        for path in (live, copy, backup):
            if path.exists():
                assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, path


# --- the config folder (appdata) filling up -----------------------------------------


@pytest.fixture
def small_config(root: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs as the config folder (cacherr.json and the state database)."""
    with tmpfs(root / "config", "4m") as folder:
        yield folder


def fill(folder: Path) -> Path:
    filler = folder / "filler.bin"
    with contextlib.suppress(OSError), filler.open("ab") as out:
        while True:
            out.write(b"\0" * 2**16)
            out.flush()
    return filler


async def test_the_config_folder_full_stops_caching_says_so_and_recovers(
    aiohttp_client: Any, root: Path, fake: FakePlexServer, world: World, small_config: Path
) -> None:
    # appdata often lives on the pool Cacherr fills: when it is full, the journal cannot be
    # written, so nothing may move; the daemon stays up, says so, and carries on after.
    config = small_config
    store = ConfigStore.open(config)
    store.save(settings_for(root, fake, world))
    daemon = await start(aiohttp_client, store)
    array_before = snapshot(root / "array")
    filler = await asyncio.to_thread(fill, config)

    await play(daemon, world)
    h = await until(lambda: _database_problem(daemon), 15)
    assert h["status"] == "degraded"
    assert "full" in h["database"]["message"]
    status = (await (await daemon.get("/api/status")).json())["data"]
    assert "database_unwritable" in [w["code"] for w in status["warnings"]]  # a page banner
    pin = await daemon.post("/api/pins", json={"rating_key": str(first_episode(world).rating_key)})
    assert pin.status == 503  # a clear refusal, not an internal error
    assert (await pin.json())["error"]["code"] == "database_unwritable"
    saved = (config / "cacherr.json").read_bytes()
    resp = await daemon.patch("/api/settings", json={"cache": {"next_episodes": 5}})
    assert resp.status == 507
    body = await resp.json()
    assert body["error"]["code"] == "insufficient_space" and "No space left" in body["message"]
    assert (config / "cacherr.json").read_bytes() == saved
    assert daemon.app[keys.CONFIG].current.cache.next_episodes != 5
    await settle(daemon.app)
    assert snapshot(root / "array") == array_before  # nothing moved without a journal
    assert not cached(root)

    filler.unlink()  # space again: the next play caches
    episodes = [it for it in world.items.values() if isinstance(it, Episode)]
    await play(daemon, world, episodes[-1])
    await until(lambda: _has_cache(root), 20)
    await settle(daemon.app)
    assert (await health(daemon))["database"]["ok"] is True
    await daemon.close()


async def _database_problem(daemon: Client) -> dict[str, Any] | None:
    h = await health(daemon)
    return None if h["database"]["ok"] else h


async def test_a_mover_exclusion_file_that_cannot_be_written_is_shown_and_retried(
    aiohttp_client: Any, root: Path, fake: FakePlexServer, world: World
) -> None:
    # Caching goes on, but the page must say the mover may move the new files back.
    with tmpfs(root / "boot", "1m") as boot:
        store = ConfigStore.open(root / "config")
        exclude = boot / "mover_exclude.txt"
        settings = settings_for(root, fake, world)
        settings["mover"]["exclude_file"] = str(exclude)
        store.save(settings)
        daemon = await start(aiohttp_client, store)
        filler = await asyncio.to_thread(fill, boot)
        await play(daemon, world)
        await until(lambda: _has_cache(root), 20)
        await settle(daemon.app)
        warnings = await _warnings(daemon)
        assert "mover_exclusion_unwritable" in warnings
        assert "No space left" in warnings["mover_exclusion_unwritable"]

        filler.unlink()
        episodes = [it for it in world.items.values() if isinstance(it, Episode)]
        await play(daemon, world, episodes[-1])
        await settle(daemon.app)
        assert "mover_exclusion_unwritable" not in await _warnings(daemon)
        listed = exclude.read_text().splitlines()
        assert all(str(root / "cache" / f) in listed for f in cached(root))
        await daemon.close()


async def _warnings(daemon: Client) -> dict[str, str]:
    status = (await (await daemon.get("/api/status")).json())["data"]
    return {w["code"]: w["message"] for w in status["warnings"]}


async def test_the_config_folder_filling_up_mid_copy_loses_nothing(
    aiohttp_client: Any, root: Path, small_config: Path
) -> None:
    # The journal's next step cannot be written while a copy runs: the operation stops and
    # its files stay as the journal says. With space back, the next sweep settles it (no
    # restart needed) and every file is whole, once.
    big = big_show(root, 8 * 2**20)
    array_before = snapshot(root / "array")
    async with FakePlexServer(big) as fake:
        store = ConfigStore.open(small_config)
        store.save(settings_for(root, fake, big, cache={"next_episodes": 3}))
        daemon = await start(aiohttp_client, store)
        await play_while_filling(daemon, big, root / "cache", small_config)
        stopped = [r for r in await journal_rows(daemon.app) if r["state"] == "running"]
        assert (await health(daemon))["status"] in ("ok", "degraded")  # up and answering

        (small_config / "filler.bin").unlink(missing_ok=True)
        assert (await daemon.post("/api/sweep")).status == 202
        await until(lambda: _no_running_rows(daemon), 20)
        await settle(daemon.app)
        check_whole(root, root / "cache", array_before)
        await daemon.close()
    if not stopped:  # the other writer came too late (a loaded machine): copies finished
        pytest.skip("the copies finished before the config folder filled up")


async def _no_running_rows(daemon: Client) -> bool:
    sweeper = daemon.app[keys.SWEEPER]
    rows = await journal_rows(daemon.app)
    return sweeper.last is not None and not [r for r in rows if r["state"] == "running"]
