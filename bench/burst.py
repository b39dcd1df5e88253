"""Fairness under a burst: 40 people press play at once; how long each waits for their next episode.

The daemon runs as a real process with DEFAULT cache settings (`cache.next_episodes` 5,
`copy_concurrency` 2, ...), only Plex, the mapping, the webhook and the port set. The
simulated Plex (+20 ms on every request) has one show per person; the owner, 9 Home users
and 30 shared friends each post a Plex `media.play` of their show's S01E01 (multipart,
secret in the URL), all at once from 40 threads. A watcher follows the cache through
inotify (`bench.latency.Watcher`, to within 5 ms) for each person's S01E02 under its final
name (a copy is renamed to its final name only once complete, fsynced and verified).
Latency = complete on the cache - that person's send time; the p95 is over the 40 people,
and the slowest kind of user is shown.

The floor is the cache disk's own: right before and right after the burst, one plain loop
copies the same next episodes durably (temp name, fsync, rename, folder fsync; no journal,
no verify) into a fresh folder beside the cache, one after the other. Its figure is when
the p95-th of them was complete, from the loop's start (the mean of the two runs); the
ratio says how much of the p95 is Cacherr's own.

    python -m bench.burst [--people 40] [--size-mb 1] [--latency-ms 20]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.crash_campaign import API_KEY, SECRET, Daemon, free_port
from bench.latency import Watcher, multipart, p95
from bench.small_files import plain_copy
from cacherr.config.store import ConfigStore
from cacherr.fakeplex import FakePlexThread, World, webhooks
from cacherr.fakeplex.model import Show, User
from cacherr.files import names


def kinds(people: int) -> list[str]:
    """The owner, then a quarter Home users, the rest shared friends."""
    home = (people - 1) // 4
    return ["owner"] + ["home"] * home + ["shared"] * (people - 1 - home)


def play(url: str, world: World, user: User, show: Show) -> float:
    """POST the webhook Plex sends when `user` starts S01E01 of `show`; returns the send time."""
    ep = show.seasons[0].episodes[0]
    body, ctype = multipart(webhooks.from_world("media.play", world, user, ep))
    request = urllib.request.Request(url, data=body, headers={"Content-Type": ctype},
                                     method="POST")  # fmt: skip
    sent = time.perf_counter()
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.status == 202
    return sent


def settle_sweep(daemon: Daemon, timeout_s: float = 30) -> None:
    """Wait for the start-up sweep to end (nothing is on deck yet; reading each Home user's
    on-deck waits for plex.tv's pace), so the burst meets a quiet daemon."""
    deadline = time.monotonic() + timeout_s
    while True:
        sweep = daemon.get("/api/sweep")["data"]
        if sweep["state"] == "idle" and sweep["last"] is not None:
            return
        if time.monotonic() > deadline:
            raise SystemExit("the start-up sweep did not end")
        time.sleep(0.05)


def disk_floor(sources: list[Path], target: Path) -> float:
    """Seconds until the p95-th of `sources` is durably copied under `target` (one plain
    loop, in order), the copies then removed."""
    started, done = time.perf_counter(), []
    for i, source in enumerate(sources):
        # Once cached, the original is the backup (union mode): the same bytes.
        source = source if source.exists() else names.backup_path(source)
        plain_copy(source, target / f"{i:03d}" / source.name)
        done.append(time.perf_counter() - started)
    shutil.rmtree(target)
    return p95(done)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=40)
    parser.add_argument("--size-mb", type=float, default=1.0, help="size of each episode")
    parser.add_argument("--latency-ms", type=int, default=20, help="added to every Plex call")
    args = parser.parse_args()
    size = int(args.size_mb * 2**20)

    with tempfile.TemporaryDirectory(prefix="cacherr-burst-") as tmp:
        root = Path(tmp)
        array, cache = root / "array", root / "cache"
        cache.mkdir()
        world = World(array_root=array, plex_root="/data", file_bytes=size)
        people: list[User] = [world.owner]
        for i, kind in enumerate(kinds(args.people)[1:]):
            people.append(world.add_user(f"{kind}{i:02d}", kind=kind))  # type: ignore[arg-type]
        shows = [world.add_show(f"Show {i:02d}", seasons={1: 8}) for i in range(args.people)]
        episodes = [
            array / "tv" / show.title / "Season 01" / f"{show.title} - S01E02.mkv" for show in shows
        ]
        floors = [disk_floor(episodes, root / "floor")]
        thread = FakePlexThread(world)
        plex = thread.start()
        plex.faults.rule().latency_ms = args.latency_ms
        port = free_port()
        ConfigStore.open(root / "config").save({
            "plex": {"url": plex.url, "token": world.owner.token, "plextv_url": plex.plextv_url,
                     "discover_url": plex.discover_url, "metadata_url": plex.metadata_url},
            "paths": {"mappings": [{"name": "tv", "plex": "/data", "array": str(array),
                                    "cache": str(cache)}]},
            "web": {"host": "127.0.0.1", "port": port, "api_key": API_KEY},
            "webhook": {"secret": SECRET},
            "mover": {"pid_file": str(root / "mover.pid")},
            "general": {"log_level": "WARNING"},
        })  # fmt: skip
        daemon = Daemon(root / "config", port, root / "daemon.log")
        daemon.start()
        try:
            daemon.wait_healthy()
            deadline = time.monotonic() + 30
            while daemon.get("/api/health")["data"]["plex"]["state"] != "connected":
                if time.monotonic() > deadline:
                    raise SystemExit("Plex did not connect")
                time.sleep(0.05)
            settle_sweep(daemon)
            targets = {
                i: cache / "tv" / show.title / "Season 01" / f"{show.title} - S01E02.mkv"
                for i, show in enumerate(shows)
            }
            watcher = Watcher(cache, targets)
            watcher.start()
            watcher.ready.wait()
            url = f"http://127.0.0.1:{port}/api/webhooks/plex?secret={SECRET}"
            with ThreadPoolExecutor(len(people)) as pool:
                who = range(len(people))
                sent = list(pool.map(lambda i: play(url, world, people[i], shows[i]), who))
            watcher.join(timeout=60)
            watcher.stop.set()
        finally:
            daemon.stop()
            thread.stop()
        floors.append(disk_floor(episodes, root / "floor"))

    waits = {i: watcher.done[i] - sent[i] for i in watcher.done}
    ordered = sorted(waits.values())
    print(f"{len(waits)} of {len(people)} people at once ({args.size_mb:g} MiB episodes, Plex "
          f"+{args.latency_ms} ms, default settings): play sent → next episode complete on the "
          "cache")  # fmt: skip
    if ordered:
        print(f"  p50 {statistics.median(ordered):.3f} s   p95 {p95(ordered):.3f} s   "
              f"max {ordered[-1]:.3f} s")  # fmt: skip
        floor = statistics.mean(floors)
        print(f"  disk floor (plain durable copies, p95-th done) {floor:.3f} s "
              f"({floors[0]:.3f} before, {floors[1]:.3f} after)   "
              f"p95 / floor {p95(ordered) / floor:.2f}")  # fmt: skip
        for kind in ("owner", "home", "shared"):
            mine = sorted(w for i, w in waits.items() if people[i].kind == kind)
            if mine:
                print(f"  {kind:6} n={len(mine):2}  median {statistics.median(mine):.3f} s   "
                      f"max {mine[-1]:.3f} s")  # fmt: skip
    missing = sorted(set(range(len(people))) - set(waits))
    if missing:
        print(f"  never complete: {missing}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
