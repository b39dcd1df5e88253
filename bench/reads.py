"""Time the read queries of `files.queries` and `claims.queries` on a large install.

A real SQLite file (the daemon's migrations) with `--files` media files, each with one
subtitle parented to it (as adopted files are), and a claim from one of 40 users on half of
them. Prints the median time of each read: one file's row (the engine reads it as each copy
finishes), every media row with its size with sidecars (`GET /api/files`), the planner's
managed files, the footprint (`/metrics`, `/api/status`), and the per-source and per-user
shares (`GET /api/stats`). `--without-parent-index` drops the `managed_files_parent` index
to show what it buys.

    python -m bench.reads [--files 20000] [--rounds 20] [--without-parent-index]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from cacherr.claims import ClaimStore
from cacherr.claims.queries import cached_by_source, cached_by_user, unclaimed
from cacherr.db import Database
from cacherr.files.queries import footprint, media_file, media_files

USERS = 40


async def seed(db: Database, files: int) -> None:
    """`files` media rows, one parented subtitle each, a claim on every other one."""
    media = [
        (i * 2 + 1, f"Show {i // 100}/S01E{i % 100:02}.mkv", 2_000_000_000) for i in range(files)
    ]
    await db.executemany(
        "INSERT INTO managed_files (id, mapping, rel_path, plex_path, state, size_bytes,"
        " mtime_ns, cached_at) VALUES (?, 'tv', ?, '/data/tv/' || ?2, 'cached', ?, 0, 0)",
        media,
    )
    await db.executemany(
        "INSERT INTO managed_files (id, mapping, rel_path, plex_path, parent_id, state,"
        " size_bytes, mtime_ns, cached_at) VALUES (?, 'tv', ?, '/data/tv/' || ?2, ?, 'cached',"
        " 50000, 0, 0)",
        [(i + 1, rel[:-4] + ".en.srt", i) for i, rel, _ in media],
    )
    await db.executemany(
        "INSERT INTO claims (plex_path, source, user_id, priority, reason, created_at)"
        " VALUES ('/data/tv/' || ?, 'next_up', ?, 600, 'next episode', 0)",
        [(rel, str(n % USERS)) for n, (_, rel, _) in enumerate(media) if n % 2 == 0],
    )


async def timed(rounds: int, read: Callable[[int], Awaitable[object]]) -> float:
    """The median of `rounds` calls of `read(round)`, in ms."""
    took = []
    for n in range(rounds):
        started = time.perf_counter()
        await read(n)
        took.append((time.perf_counter() - started) * 1000)
    return statistics.median(took)


async def main(files: int, rounds: int, without_parent_index: bool) -> None:
    with tempfile.TemporaryDirectory() as folder:
        db = await Database.open(Path(folder) / "cacherr.db")
        try:
            await seed(db, files)
            if without_parent_index:
                await db.execute("DROP INDEX managed_files_parent")
            await db.execute("ANALYZE")
            store = ClaimStore(db)
            step = max(1, files // rounds)
            reads: dict[str, Callable[[int], Awaitable[object]]] = {
                "media_file (one path)": lambda n: media_file(
                    db, f"/data/tv/Show {n * step // 100}/S01E{n * step % 100:02}.mkv"
                ),
                "media_files (all)": lambda _: media_files(db),
                "ClaimStore.managed (all)": lambda _: store.managed(),
                "footprint": lambda _: footprint(db),
                "cached_by_source": lambda _: cached_by_source(db),
                "cached_by_user": lambda _: cached_by_user(db),
                "unclaimed": lambda _: unclaimed(db),
            }
            index = "without" if without_parent_index else "with"
            print(f"{files} media files + {files} sidecars, {index} the parent index")
            for name, read in reads.items():
                print(f"  {name:26} {await timed(rounds, read):9.3f} ms (median)")
        finally:
            await db.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--without-parent-index", action="store_true")
    args = parser.parse_args()
    asyncio.run(main(args.files, args.rounds, args.without_parent_index))
