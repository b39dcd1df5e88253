"""How the daemon fares against Plex and plex.tv at its DEFAULT settings, 50 users.

The real app (every setting at its default but the addresses, one mapping and Plex's
database for shared users' on-deck) runs against the simulated Plex on its own thread:
20 ms added to every request, plex.tv enforcing its rate limit (429 past 10 a second).
The world: the owner, 19 Home users, 30 shared users, each with `--deck` shows in progress
and two or three titles on their watchlist.

Prints, with the calls per endpoint:
* cold start: the app starting on an empty config folder until every user's on-deck is
  read (the start-up sweep), then until the watchlists are known (background refresh);
* a warm sweep (watchlists known, the library's short-lived cache emptied first);
* `GET /api/plan`: p50 / p95 over `--plans` requests;
* the 429s plex.tv answered.

Targets (issue 13): zero 429s; warm sweep < 3 s; every on-deck within 10 s of start;
≤ 3 calls per user + 1 per section per sweep; GET /api/plan p95 < 100 ms.

Usage: `python -P bench/plex_calls.py` (-P keeps bench/ off sys.path, where copy.py would
shadow the standard library's copy module).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from cacherr import keys
from cacherr.app import create_app
from cacherr.config import ConfigStore
from cacherr.fakeplex import FakePlexServer, FakePlexThread, World
from cacherr.fakeplex.plexdb import write_plex_database


def build_world(root: Path, users: int, deck: int) -> World:
    """`deck` started shows per user (one on-deck episode each), movies on watchlists."""
    world = World(array_root=root, plex_root="/data", file_bytes=256)
    shows = [world.add_show(f"Show {i:02d}", seasons={1: 4, 2: 4}) for i in range(deck + 2)]
    movies = [world.add_movie(f"Movie {i:02d}", year=2000 + i) for i in range(20)]
    people = [world.owner]
    for i in range(users - 1):
        people.append(world.add_user(f"user{i:02d}", kind="home" if i < 19 else "shared"))
    for n, person in enumerate(people):
        for k in range(deck):
            show = shows[(n + k) % len(shows)]
            world.watch(person, show.seasons[0].episodes[n % 3])
        world.add_to_watchlist(person, movies[n % len(movies)])
        world.add_to_watchlist(person, movies[(n + 7) % len(movies)])
        if n % 5 == 0:
            world.add_to_watchlist(person, shows[-1])
    return world


def write_config(config_dir: Path, fake: FakePlexServer, world: World, tmp: Path) -> None:
    """Defaults everywhere but where Plex is, one mapping and Plex's database."""
    database = tmp / "com.plexapp.plugins.library.db"
    write_plex_database(world, database)
    (tmp / "cache").mkdir()
    config = {
        "plex": {"url": fake.url, "token": world.owner.token, "plextv_url": fake.plextv_url,
                 "discover_url": fake.discover_url, "metadata_url": fake.metadata_url,
                 "database_path": str(database)},
        "paths": {"mappings": [{"name": "media", "plex": "/data",
                                "array": str(world.array_root), "cache": str(tmp / "cache")}]},
        "cache": {"limit": "100%", "min_free": "0B"},
    }  # fmt: skip
    (config_dir / "cacherr.json").write_text(json.dumps(config))


def report(title: str, fake: FakePlexServer, seconds: float, users: int, sections: int) -> None:
    counts = fake.counter.by_route()
    total = sum(counts.values())
    budget = 3 * users + sections
    print(f"\n{title}: {seconds:.2f} s")
    for route, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {n:5d}  {route}")
    kinds = dict(sorted(fake.counter.by_kind().items()))
    print(f"  total {total} ({total / users:.2f} per user; budget 3/user + 1/section = {budget});"
          f" by host: {kinds}")  # fmt: skip


async def until(check: Any, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError("the daemon did not get there in time")
        await asyncio.sleep(0.05)


async def main(users: int, deck: int, latency_ms: int, plans: int) -> None:
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        world = build_world(tmp / "array", users, deck)
        sections = len(world.libraries)
        with FakePlexThread(world) as fake:
            fake.faults.rule().latency_ms = latency_ms
            config_dir = tmp / "config"
            config_dir.mkdir()
            write_config(config_dir, fake, world, tmp)
            store = ConfigStore.open(config_dir)
            assert store.current.web.api_key is not None
            headers = {"X-Api-Key": store.current.web.api_key.get_secret_value()}

            started = time.perf_counter()
            client = TestClient(TestServer(create_app(store)))
            await client.start_server()
            try:
                app = client.app
                sweeper = app[keys.SWEEPER]
                collector = sweeper.collector
                assert collector is not None

                async def first_sweep_done() -> bool:
                    return sweeper.last is not None

                await until(first_sweep_done, 120)
                ondeck_s = time.perf_counter() - started
                last = sweeper.last
                assert last is not None
                ondeck_failed = {k: v for k, v in last.failed.items() if k.startswith("ondeck")}
                known = {u.id for u in await app[keys.PLEX_USERS].all()}
                report("Cold start: every user's on-deck read (start-up sweep)", fake, ondeck_s,
                       users, sections)  # fmt: skip
                print(f"  users known {len(known)}, on-deck failures: {ondeck_failed or 'none'}")
                await collector.wait_refreshed()
                await sweeper.run_until_idle()
                print(f"  watchlists known {time.perf_counter() - started:.2f} s after start")

                fake.counter.reset()
                app[keys.PLEX_LIBRARY].invalidate()
                began = time.perf_counter()
                result = await sweeper.sweep()
                warm = time.perf_counter() - began
                report("Warm sweep (watchlists known)", fake, warm, users, sections)
                print(f"  failed: {result.failed or 'none'}")

                fake.counter.reset()
                timings = []
                for _ in range(plans):
                    began = time.perf_counter()
                    resp = await client.get("/api/plan", headers=headers)
                    await resp.read()
                    assert resp.status == 200, resp.status
                    timings.append((time.perf_counter() - began) * 1000)
                timings.sort()
                p95 = timings[int(len(timings) * 0.95) - 1]
                print(f"\nGET /api/plan x{plans}: p50 {statistics.median(timings):.1f} ms,"
                      f" p95 {p95:.1f} ms; Plex/plex.tv calls meanwhile:"
                      f" {fake.counter.total()}")  # fmt: skip
                answers = app[keys.PLEX].transport.answers
                seen = sum(n for (_lane, _ep, status), n in answers.items() if status == "429")
                print(f"\n429s: plex.tv's limit refused {fake.faults.plextv_limited},"
                      f" Cacherr saw {seen}")  # fmt: skip
            finally:
                await client.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--deck", type=int, default=10, help="on-deck episodes per user")
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--plans", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.users, args.deck, args.latency_ms, args.plans))
