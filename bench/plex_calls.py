"""How many Plex and plex.tv calls a reconcile costs: on-deck and watchlists for 50 users.

Runs Cacherr's Plex side against the simulated Plex (its own thread, 20 ms added to every
request) and prints the calls per endpoint and the wall time, for a cold start (users and
tokens unknown) and a warm sweep (tokens cached).

Usage: `python -P bench/plex_calls.py` (-P keeps bench/ off sys.path, where copy.py would
shadow the standard library's copy module).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from cacherr.config.models import Settings
from cacherr.db import Database
from cacherr.events import EventBus
from cacherr.fakeplex import FakePlexServer, FakePlexThread, World
from cacherr.plex.gateway import PlexGateway
from cacherr.plex.library import Library
from cacherr.plex.status import PlexStatus
from cacherr.plex.users import UserDirectory
from cacherr.sources.ondeck import OnDeck
from cacherr.sources.watchlist import Watchlists


def build_world(root: Path, users: int, deck: int) -> World:
    """`deck` started shows per user (one on-deck episode each), movies on watchlists."""
    world = World(array_root=root, plex_root="/data", create_files=False)
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


async def sweep(ondeck: OnDeck, watchlists: Watchlists) -> tuple[float, int, int]:
    started = time.perf_counter()
    deck, wl = await asyncio.gather(ondeck.collect(), watchlists.collect())
    assert not deck.failed and not wl.failed, (deck.failed, wl.failed)
    return time.perf_counter() - started, len(deck.entries), len(wl.entries)


def report(
    title: str, fake: FakePlexServer, seconds: float, deck: int, wl: int, users: int
) -> None:
    counts = fake.counter.by_route()
    kinds = fake.counter.by_kind()
    print(f"\n{title}: {seconds:.2f} s, {deck} on-deck entries, {wl} watchlist entries")
    for route, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {n:5d}  {route}")
    total = sum(counts.values())
    print(f"  total {total} ({total / users:.2f} per user); by host: {dict(sorted(kinds.items()))}")


async def main(users: int, deck: int, latency_ms: int, plextv_interval_ms: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        world = build_world(Path(tmp) / "array", users, deck)
        with FakePlexThread(world) as fake:
            fake.faults.rule().latency_ms = latency_ms
            settings = Settings.model_validate({
                "plex": {"url": fake.url, "token": world.owner.token,
                         "plextv_url": fake.plextv_url, "discover_url": fake.discover_url,
                         "metadata_url": fake.metadata_url,
                         "plextv_min_interval_ms": plextv_interval_ms,
                         "friends_watchlist_rss": fake.rss_url("friends")},
                "users": {"shared": {"watchlist": True}},
            })  # fmt: skip
            gateway = PlexGateway(lambda: settings.plex, PlexStatus(), EventBus())
            db = await Database.open(Path(tmp) / "cacherr.db")
            await gateway.start()
            try:
                await gateway.wait_settled(10)
                started = time.perf_counter()
                directory = UserDirectory(gateway, db, lambda: settings)
                await directory.refresh()
                library = Library(gateway, lambda: settings)
                ondeck = OnDeck(gateway, directory, library, lambda: settings)
                watchlists = Watchlists(gateway, directory, library, lambda: settings)
                _, deck_n, wl_n = await sweep(ondeck, watchlists)
                cold = time.perf_counter() - started
                title = "Cold start (users, tokens, sweep; connected before)"
                report(title, fake, cold, deck_n, wl_n, users)
                fake.counter.reset()
                library.invalidate()
                warm, deck_n, wl_n = await sweep(ondeck, watchlists)
                report("Warm sweep (tokens cached)", fake, warm, deck_n, wl_n, users)
            finally:
                await gateway.close()
                await db.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--deck", type=int, default=10, help="on-deck episodes per user")
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument(
        "--plextv-interval-ms", type=int, default=0,
        help="plex.plextv_min_interval_ms (the setting's default is 1000)",
    )  # fmt: skip
    args = parser.parse_args()
    asyncio.run(main(args.users, args.deck, args.latency_ms, args.plextv_interval_ms))
