"""Time one play event: a user's window on one show replaced in SQLite, then a partial plan.

A synthetic library of 50 000 episodes (500 shows x 10 seasons x 10 episodes), 5 000 of
them managed, ~6 000 claims from 40 users in a real SQLite file, the pool near its
eviction threshold so that most events have to make room. Prints the median and p95 over
200 events, for the claims update, the plan, and both together (target: < 10 ms).

    python bench/plan.py [--events 200] [--seed 7]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path

from cacherr.claims import Claim, ClaimStore, ManagedFile, Source, claim_priority
from cacherr.db import Database
from cacherr.planner import Index, Space, plan_all, plan_paths

GB = 10**9
NOW = 1_700_000_000.0
SHOWS, SEASONS, EPISODES = 500, 10, 10
MANAGED = 5_000
USERS = 40
NEXT_EPISODES = 5


def path(show: int, n: int) -> str:
    season, episode = divmod(n, EPISODES)
    return (
        f"/data/tv/Show {show:03d}/Season {season + 1:02d}/"
        f"Show {show:03d} - S{season + 1:02d}E{episode + 1:02d}.mkv"
    )


def window(user: str, show: int, n: int, now: float) -> list[Claim]:
    """The reaction's claims for `user` playing episode `n` of `show`."""
    last = min(n + NEXT_EPISODES, SEASONS * EPISODES - 1)
    out = []
    for at in range(n, last + 1):
        distance = at - n
        source: Source = "playing" if distance == 0 else "next_up"
        out.append(
            Claim(
                path(show, at),
                source,
                user,
                claim_priority(source, user_kind="home", distance=distance),
                f"{source} S{at // EPISODES + 1:02d}E{at % EPISODES + 1:02d} for {user}",
                now,
                show_key=f"show-{show}",
            )
        )
    return out


async def seed(store: ClaimStore, db: Database, rng: random.Random) -> dict[str, int]:
    sizes = {path(s, n): rng.randint(1, 4) * GB for s in range(SHOWS) for n in range(100)}
    everything = list(sizes)
    managed = rng.sample(everything, MANAGED)
    await db.executemany(
        "INSERT INTO managed_files (mapping, rel_path, plex_path, state, size_bytes, mtime_ns, "
        "cached_at, released_at) VALUES ('tv', ?, ?, 'cached', ?, 0, ?, ?)",
        [
            (p, p, sizes[p], NOW - 30 * 86400, NOW - rng.random() * 86400 if i % 10 == 0 else None)
            for i, p in enumerate(managed)
        ],
    )
    # Every user is somewhere in 20 shows (playing windows) and has 30 items on deck.
    for u in range(USERS):
        user = f"user{u}"
        claims: list[Claim] = []
        for show in rng.sample(range(SHOWS), 20):
            claims += window(user, show, rng.randrange(90), NOW - rng.random() * 30 * 86400)
        await store.upsert(claims, now=NOW)
        deck = [
            Claim(p, "ondeck", user, claim_priority("ondeck", user_kind="shared"), "on deck")
            for p in rng.sample(managed, 30)
        ]
        await store.replace("ondeck", user, deck, now=NOW)
    return sizes


async def main(events: int, seed_value: int) -> None:
    rng = random.Random(seed_value)
    with tempfile.TemporaryDirectory() as tmp:
        db = await Database.open(Path(tmp) / "bench.db")
        try:
            store = ClaimStore(db)
            sizes = await seed(store, db, rng)
            started = time.perf_counter()
            index = Index.build(await store.all(), await store.managed())
            build_ms = (time.perf_counter() - started) * 1000
            used = sum(f.size_bytes for f in index.managed_files.values())
            total = 4 * used
            limit = int(used / 0.94)  # just under the 95% threshold
            claims_count = len(await store.all())
            print(
                f"library {len(sizes)} episodes, {len(index.managed_files)} managed "
                f"({used / GB:.0f} GB), {claims_count} claims, {USERS} users; "
                f"index built in {build_ms:.0f} ms"
            )
            db_ms, plan_ms, all_ms, evictions = [], [], [], 0
            now = NOW
            for _ in range(events):
                now += 30.0
                user, show, n = (
                    f"user{rng.randrange(USERS)}",
                    rng.randrange(SHOWS),
                    rng.randrange(95),
                )
                space = Space(total, total - used, used, limit, 0, 95, 85)
                t0 = time.perf_counter()
                claims = window(user, show, n, now)
                change = await store.replace(
                    ("playing", "next_up"), user, claims, show_key=f"show-{show}", now=now
                )
                index.update_claims(await store.for_paths(change.touched), now=now)
                t1 = time.perf_counter()
                touched = dict.fromkeys([*(c.plex_path for c in claims), *change.touched])
                plan = plan_paths(
                    index,
                    touched,
                    sizes=sizes,
                    space=space,
                    active=set(),
                    now=now,
                    retention_hours=24,
                )
                t2 = time.perf_counter()
                db_ms.append((t1 - t0) * 1000)
                plan_ms.append((t2 - t1) * 1000)
                all_ms.append((t2 - t0) * 1000)
                # What the executor would do next, outside the timing.
                for action in plan.actions:
                    if action.kind == "cache":
                        index.put_managed(ManagedFile(action.plex_path, action.size_bytes, now))
                        used += action.size_bytes
                    else:
                        evictions += action.kind == "evict"
                        index.drop_managed(action.plex_path)
                        used -= action.size_bytes
            for label, values in (("claims", db_ms), ("plan", plan_ms), ("event", all_ms)):
                ordered = sorted(values)
                p95 = ordered[int(0.95 * (len(ordered) - 1))]
                print(
                    f"{label:>6}: median {statistics.median(values):6.2f} ms   "
                    f"p95 {p95:6.2f} ms   max {ordered[-1]:6.2f} ms"
                )
            print(f"{events} events, {evictions} evictions planned")
            started = time.perf_counter()
            sweep = plan_all(
                index,
                sizes=sizes,
                space=Space(total, total - used, used, limit, 0, 95, 85),
                active=set(),
                now=now,
                retention_hours=24,
            )
            print(
                f"for comparison, a full sweep plan: {(time.perf_counter() - started) * 1000:.0f} "
                f"ms ({len(sweep.actions)} actions, {len(sweep.unfit)} unfit)"
            )
        finally:
            await db.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    asyncio.run(main(args.events, args.seed))
