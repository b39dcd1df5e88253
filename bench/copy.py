"""Benchmark: Cacherr's cache protocol against `cp` on the same file, in turns.

    python -m bench.copy [--size 2GiB] [--rounds 5] [--dir /tmp]
    python -m bench.copy --small 1000 [--rounds 3] [--dir /tmp]

(`--small N`: the fixed cost per file instead, N files of 4 KiB; see `bench.small_files`.)

(As a module from the repository root: run as a script, this file would shadow the
standard library's `copy` module.)

One source file is written once (incompressible bytes). Each round copies it with `cp`,
with `cp` followed by `sync --data` on the copy (what Cacherr promises: the bytes are on
disk before the original is renamed aside), and with Cacherr's whole protocol (journal,
copy, fsync, verify, renames) for `cache.verify = sample` (the default) and `full`. The
order alternates between rounds, and before each copy the source's pages are dropped from
the page cache (and every earlier copy is synced and dropped), so each run reads the
source from disk and none inherits another's dirty pages. Prints per-round throughputs and
the median ratio of Cacherr's throughput to each `cp` variant's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import small_files
from cacherr.config.models import Mapping, parse_size
from cacherr.db import Database
from cacherr.files.model import ProtocolOptions
from cacherr.files.paths import PathResolver
from cacherr.files.protocol import cache_file

BLOCK = 64 * 2**20
REL = "Movies/Benchmark (2024)/Benchmark (2024).mkv"


def write_source(path: Path, size: int) -> None:
    """Incompressible bytes: one random block repeated with a varying prefix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    block = bytearray(os.urandom(BLOCK))
    with open(path, "wb") as handle:
        written = 0
        while written < size:
            block[:8] = written.to_bytes(8, "little")
            n = min(BLOCK, size - written)
            handle.write(block[:n])
            written += n
        handle.flush()
        os.fsync(handle.fileno())


def settle(path: Path) -> None:
    """Sync `path` and drop its pages, so the next run starts from a cold page cache."""
    if not path.exists():
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def run_cp(source: Path, target: Path, *, sync: bool) -> float:
    started = time.perf_counter()
    subprocess.run(["cp", str(source), str(target)], check=True)
    if sync:
        subprocess.run(["sync", "--data", str(target)], check=True)
    return time.perf_counter() - started


async def run_cacherr(db: Database, mapping: Mapping, verify: str) -> float:
    loc = PathResolver([mapping]).from_rel(mapping.name, REL)
    options = ProtocolOptions(verify=verify, min_free="0B", limit="100%")  # type: ignore[arg-type]
    started = time.perf_counter()
    outcome = await cache_file(db, loc, options)
    elapsed = time.perf_counter() - started
    if outcome.result != "done":
        raise SystemExit(f"cacherr copy failed: {outcome.error}")
    # Put things back for the next run (not timed).
    os.rename(loc.backup_path, loc.array_path)
    settle(loc.cache_path)
    loc.cache_path.unlink()
    await db.execute("DELETE FROM managed_files")
    return elapsed


async def bench(size: int, rounds: int, work: Path) -> None:
    array, cache = work / "array", work / "cache"
    array.mkdir()
    cache.mkdir()
    mapping = Mapping(name="bench", plex="/data", array=str(array), cache=str(cache))
    source = array / REL
    print(f"writing a {size / 2**30:.2f} GiB source in {work} ...", flush=True)
    write_source(source, size)
    (cache / REL).parent.mkdir(parents=True)
    target = cache / "cp-copy.mkv"
    db = await Database.open(work / "bench.db")
    methods = ["cp", "cp+sync", "cacherr/sample", "cacherr/full"]
    times: dict[str, list[float]] = {m: [] for m in methods}
    try:
        for round_no in range(rounds):
            order = methods if round_no % 2 == 0 else methods[::-1]
            for method in order:
                settle(source)
                if method.startswith("cp"):
                    elapsed = run_cp(source, target, sync=method == "cp+sync")
                    settle(target)
                    target.unlink()
                else:
                    elapsed = await run_cacherr(db, mapping, method.split("/")[1])
                times[method].append(elapsed)
            line = "  ".join(f"{m} {size / t / 2**20:7.0f} MiB/s" for m, t in
                             ((m, times[m][-1]) for m in methods))  # fmt: skip
            print(f"round {round_no + 1}: {line}", flush=True)
    finally:
        await db.close()

    print()
    for m in methods:
        print(f"{m:15s} median {size / statistics.median(times[m]) / 2**20:7.0f} MiB/s")
    for ours in ("cacherr/sample", "cacherr/full"):
        for base in ("cp", "cp+sync"):
            ratios = [b / a for a, b in zip(times[ours], times[base], strict=True)]
            print(f"{ours} / {base}: median throughput ratio {statistics.median(ratios):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="2GiB", help="source size, e.g. 2GiB or 256MiB")
    parser.add_argument("--rounds", type=int, help="rounds of every method (5; --small: 3)")
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="where to work")
    parser.add_argument("--small", type=int, metavar="N", help="cache N files of 4 KiB instead")
    args = parser.parse_args()
    if args.small:
        small_files.run(args.small, args.rounds or 3, args.dir)
        return
    size = parse_size(args.size)
    work = Path(tempfile.mkdtemp(prefix="cacherr-bench-", dir=args.dir))
    free = shutil.disk_usage(work).free
    if free < 3 * size:
        shutil.rmtree(work)
        sys.exit(f"{work.parent} has {free / 2**30:.1f} GiB free; the benchmark needs 3 x --size")
    try:
        asyncio.run(bench(size, args.rounds or 5, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
