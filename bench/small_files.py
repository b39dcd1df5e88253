"""Benchmark: the fixed cost of caching one small file, through the executor and the protocol.

    python -m bench.copy --small 1000 [--rounds 3] [--dir /tmp]

A library of shows (20 episodes each, 50 shows for 1000 files) is written under a temp
folder: each episode's media file (64 KiB; not cached here) and a 4 KiB subtitle beside
it. The subtitles are cached the way the daemon caches them: a real state database in WAL
mode with its `synchronous = FULL` journal, the executor at the default settings (two copies
at once, one per array disk, no bandwidth limit) with the cache engine's completion hook, and
the on-disk protocol with real files. Each operation is submitted with its Plex item, its
holder (one viewer per show) and its size, as the engine submits a plan.

The baseline, in the same process and the same rounds, copies the same files the simplest
durable way: one at a time, copy to a temp name, fsync it, rename it, fsync the folder.
Prints ms per file for each round and their medians, and the ratio of the two.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from cacherr.config.models import Mapping, Settings
from cacherr.db import Database
from cacherr.events import EventBus
from cacherr.executor import Executor
from cacherr.files.paths import Location, PathResolver
from cacherr.reactor.engine import CacheEngine

SIDECAR_BYTES = 4 * 2**10
MEDIA_BYTES = 64 * 2**10
EPISODES_PER_SHOW = 20


def build(root: Path, files: int) -> tuple[Mapping, list[Location]]:
    """The library under `root`; returns its mapping and the subtitles to cache."""
    array, cache = root / "array", root / "cache"
    cache.mkdir(parents=True)
    mapping = Mapping(name="tv", plex="/data/tv", array=str(array), cache=str(cache))
    resolver = PathResolver([mapping])
    subtitles = []
    for n in range(files):
        show, episode = divmod(n, EPISODES_PER_SHOW)
        folder = f"Show {show:03d}/Season 01"
        stem = f"Show {show:03d} - S01E{episode + 1:02d}"
        (array / folder).mkdir(parents=True, exist_ok=True)
        (array / folder / f"{stem}.mkv").write_bytes(os.urandom(MEDIA_BYTES))
        (array / folder / f"{stem}.en.srt").write_bytes(os.urandom(SIDECAR_BYTES))
        subtitles.append(resolver.from_rel("tv", f"{folder}/{stem}.en.srt"))
    os.sync()
    return mapping, subtitles


async def cache_all(root: Path, mapping: Mapping, files: list[Location]) -> float:
    """Seconds to cache `files` through the executor; checks every one was cached."""
    settings = Settings(paths={"mappings": [mapping.model_dump()]})
    db = await Database.open(root / "cacherr.db")
    bus = EventBus()
    config_dir = root / "config"
    config_dir.mkdir()
    engine = CacheEngine(db, bus, lambda: settings, config_dir=config_dir, clock=time.time)
    executor = Executor(db, bus, lambda: settings, on_finish=engine.on_operation)
    engine.attach(executor)
    await engine.load()
    await executor.start()
    try:
        started = time.perf_counter()
        for n, loc in enumerate(files):
            show = n // EPISODES_PER_SHOW
            executor.submit("cache", loc, rating_key=f"{show}-{n}", reason="bench", priority=1.0,
                            holder=f"viewer{show}", size_bytes=SIDECAR_BYTES)  # fmt: skip
        await executor.run_until_idle()
        elapsed = time.perf_counter() - started
        row = await db.fetchone("SELECT COUNT(*) FROM managed_files WHERE state = 'cached'")
        assert row is not None
        if row[0] != len(files):
            raise SystemExit(f"only {row[0]} of {len(files)} files were cached")
    finally:
        await executor.close()
        await engine.close()
        await db.close()
    return elapsed


def plain_copy(source: Path, final: Path) -> None:
    """The plain durable copy: to a temp name, fsync it, rename it, fsync the folder."""
    final.parent.mkdir(parents=True, exist_ok=True)
    temp = final.with_name(f".{final.name}.tmp")
    with open(source, "rb") as src, open(temp, "wb") as dst:
        shutil.copyfileobj(src, dst)
        dst.flush()
        os.fsync(dst.fileno())
    os.rename(temp, final)
    fd = os.open(final.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def baseline(mapping: Mapping, files: list[Location], target: Path) -> float:
    """Seconds to copy `files` one by one with `plain_copy`."""
    started = time.perf_counter()
    for loc in files:
        # After Cacherr's turn the original is the backup (union mode): same bytes.
        source = loc.array_path if loc.array_path.exists() else loc.backup_path
        plain_copy(source, target / loc.rel)
    return time.perf_counter() - started


async def bench(files: int, rounds: int, where: Path) -> None:
    """Alternate the two ways for `rounds` rounds, each on a fresh library."""
    ours: list[float] = []
    base: list[float] = []
    print(f"{files} files of {SIDECAR_BYTES // 1024} KiB, default settings, in {where}")
    for round_no in range(rounds):
        with tempfile.TemporaryDirectory(prefix="cacherr-small-", dir=where) as tmp:
            root = Path(tmp)
            mapping, locs = build(root, files)
            order = ("cacherr", "baseline") if round_no % 2 == 0 else ("baseline", "cacherr")
            for method in order:
                if method == "cacherr":
                    ours.append(await cache_all(root, mapping, locs) / files * 1000)
                else:
                    target = root / "baseline"
                    base.append(baseline(mapping, locs, target) / files * 1000)
        print(f"round {round_no + 1}: cacherr {ours[-1]:6.2f} ms/file   "
              f"copy+fsync+rename {base[-1]:6.2f} ms/file", flush=True)  # fmt: skip
    ratios = [a / b for a, b in zip(ours, base, strict=True)]
    print()
    print(f"cacherr           median {statistics.median(ours):6.2f} ms/file")
    print(f"copy+fsync+rename median {statistics.median(base):6.2f} ms/file")
    print(f"cacherr / baseline: median ratio {statistics.median(ratios):.2f}")
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


def run(files: int, rounds: int, where: str) -> None:
    """Entry point for `bench.copy --small`."""
    asyncio.run(bench(files, rounds, Path(where)))
