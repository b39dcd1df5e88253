"""Reaction latency: a play until the next episode is on the cache (first byte, then complete).

The daemon runs as a real process (`python -m cacherr run --config-dir ...`); the simulated
Plex runs on its own thread with 20 ms added to every request. For each of 50 shows the owner
plays S01E01, told to the daemon by one trigger (`--trigger`):

- `webhook`: Plex's `media.play` webhook is posted (real multipart body, secret in the URL);
- `socket`: no webhook at all: the play starts on the simulated Plex, which pushes its
  `PlaySessionStateNotification` on the notification socket, as a server without Plex Pass;
- `poll`: no webhook and the notification socket refused: only the session poller's timer
  (`--poll-interval-s`) can see the play.

A watcher thread follows the cache through inotify for S01E02: its first byte (the temp file
of its copy, or the final name) and its completion (the final name, after the copy was
verified and renamed), to within 5 ms. Latency = seen - the moment the play was sent or
started.

Usage: `python -P bench/latency.py [--trigger webhook|socket|poll] [--shows 50] [--gap-ms 50]
[--size-mb 8]` (-P keeps bench/ off sys.path, where copy.py would shadow the standard
library's copy module).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

from watchfiles import Change, watch

from bench.crash_campaign import free_port
from cacherr.fakeplex import FakePlexThread, World, webhooks


def multipart(payload: dict[str, object]) -> tuple[bytes, str]:
    """A body as Plex sends it: the JSON `payload` part and a small `thumb` JPEG."""
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="payload"\r\n'
        f"Content-Type: application/json\r\n\r\n{json.dumps(payload)}\r\n".encode(),
        f'--{boundary}\r\nContent-Disposition: form-data; name="thumb"; filename="t.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n".encode()
        + b"\xff\xd8\xff\xe0"
        + b"0" * 4000
        + b"\r\n",
        f"--{boundary}--\r\n".encode(),
    ]
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class Watcher(threading.Thread):
    """Watches the cache through inotify (watchfiles) for each target file: its first byte
    (a temp file of the same stem with data, or the final name) and its completion (the
    final name, renamed there only once copied, fsynced and verified).

    Events arrive within `STEP_MS` to `DEBOUNCE_MS` of the change: the figures' resolution.
    A folder the daemon creates is scanned as soon as it appears (what was written in it
    before its watch began), and every pending folder every `RESCAN_MS`, so no file is
    missed. Earlier this bench polled every folder each millisecond, which took half a core
    of this 2-core machine away from the daemon under test.
    """

    STEP_MS, DEBOUNCE_MS, RESCAN_MS = 1, 5, 200

    def __init__(self, root: Path, targets: dict[int, Path]) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.pending = dict(targets)
        self.seen: dict[int, float] = {}
        self.done: dict[int, float] = {}
        self.stop = threading.Event()
        self.ready = threading.Event()  # the watch is set up: the plays may start

    def run(self) -> None:
        for changes in watch(
            self.root, watch_filter=None, debounce=self.DEBOUNCE_MS, step=self.STEP_MS,
            stop_event=self.stop, rust_timeout=self.RESCAN_MS, yield_on_timeout=True,
            raise_interrupt=False,
        ):  # fmt: skip
            now = time.perf_counter()
            self.ready.set()  # the first answer (a timeout at the latest) comes once watching
            folders = {Path(path).parent for _, path in changes}
            folders |= {Path(path) for change, path in changes if change == Change.added}
            self._scan(now, folders if changes else None)
            if not self.pending:
                return

    def _scan(self, now: float, folders: set[Path] | None) -> None:
        """Look in `folders` (None: every pending target's) for the targets' files."""
        for who, target in list(self.pending.items()):
            if folders is not None and target.parent not in folders:
                continue
            try:
                entries = list(os.scandir(target.parent))
            except (FileNotFoundError, NotADirectoryError):
                continue
            stem = target.name.rsplit(".", 1)[0]
            for entry in entries:
                try:
                    data = stem in entry.name and entry.stat(follow_symlinks=False).st_size > 0
                except FileNotFoundError:  # a temp file renamed meanwhile
                    data = False
                if data:
                    self.seen.setdefault(who, now)
                if entry.name == target.name:
                    self.done[who] = now
                    del self.pending[who]
                    break


def p95(ordered: list[float]) -> float:
    """The 95th percentile of sorted values (nearest rank)."""
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


def summary(label: str, latencies_ms: list[float]) -> str:
    """p50 / p95 / max / min of a list of latencies."""
    ordered = sorted(latencies_ms)
    return (f"  {label}: p50 {statistics.median(ordered):.0f} ms   p95 {p95(ordered):.0f} ms   "
            f"max {ordered[-1]:.0f} ms   min {ordered[0]:.0f} ms")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shows", type=int, default=50)
    parser.add_argument("--gap-ms", type=float, default=50.0, help="time between webhooks")
    parser.add_argument("--size-mb", type=float, default=8.0, help="size of each episode")
    parser.add_argument("--latency-ms", type=int, default=20, help="added to every Plex call")
    parser.add_argument("--trigger", choices=["webhook", "socket", "poll"], default="webhook")
    parser.add_argument("--poll-interval-s", type=float, default=10.0, help="sessions poller")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cacherr-latency-") as tmp:
        root = Path(tmp)
        array, cache, config = root / "array", root / "cache", root / "config"
        cache.mkdir()
        config.mkdir()
        world = World(array_root=array, plex_root="/data", file_bytes=int(args.size_mb * 2**20))
        shows = [world.add_show(f"Show {i:02d}", seasons={1: 4}) for i in range(args.shows)]
        thread = FakePlexThread(world)
        plex = thread.start()
        plex.faults.rule().latency_ms = args.latency_ms
        if args.trigger == "poll":  # a Plex whose notification socket cannot be reached
            socket_rule = plex.faults.rule(route="/:/websockets/notifications")
            socket_rule.down, socket_rule.down_mode = True, "503"
        port, secret = free_port(), uuid.uuid4().hex
        settings = {
            "plex": {"url": plex.url, "token": world.owner.token, "plextv_url": plex.plextv_url},
            "paths": {"mappings": [{"name": "tv", "plex": "/data", "array": str(array),
                                    "cache": str(cache)}]},
            "cache": {"next_episodes": 2, "min_free": "0B", "limit": "100%",
                      "copy_concurrency": 4},
            "sweep": {"on_start": False},
            "sessions": {"enabled": args.trigger != "webhook",
                         "poll_interval_s": args.poll_interval_s},
            "webhook": {"secret": secret},
            "web": {"host": "127.0.0.1", "port": port, "auth": "none"},
            "mover": {"exclude_file": None},
            "general": {"log_level": "WARNING"},
        }  # fmt: skip
        (config / "cacherr.json").write_text(json.dumps(settings))
        daemon = subprocess.Popen(
            [sys.executable, "-m", "cacherr", "run", "--config-dir", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=open(root / "daemon.log", "wb"),  # noqa: SIM115
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    with urllib.request.urlopen(f"{base}/api/health", timeout=1) as resp:
                        health = json.load(resp)["data"]
                    if health["plex"]["state"] == "connected":
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline or daemon.poll() is not None:
                    print((root / "daemon.log").read_text(), file=sys.stderr)
                    raise SystemExit("the daemon did not come up")
                time.sleep(0.05)

            targets = {
                i: cache / "tv" / show.title / "Season 01"
                / show.seasons[0].episodes[1].media[0].parts[0].file.rsplit("/", 1)[1]
                for i, show in enumerate(shows)
            }  # fmt: skip
            time.sleep(1.0)  # the notification socket connects and start-up's polls are done
            watcher = Watcher(cache, targets)
            watcher.start()
            watcher.ready.wait()
            sent: dict[int, float] = {}
            for i, show in enumerate(shows):
                ep = show.seasons[0].episodes[0]
                if args.trigger != "webhook":
                    sent[i] = time.perf_counter()
                    world.start_session(world.owner, ep, player="Living Room TV")
                    time.sleep(args.gap_ms / 1000)
                    continue
                body, ctype = multipart(webhooks.from_world("media.play", world, world.owner, ep))
                request = urllib.request.Request(
                    f"{base}/api/webhooks/plex?secret={secret}", data=body,
                    headers={"Content-Type": ctype}, method="POST",
                )  # fmt: skip
                sent[i] = time.perf_counter()
                with urllib.request.urlopen(request, timeout=5) as resp:
                    assert resp.status == 202
                time.sleep(args.gap_ms / 1000)
            watcher.join(timeout=30 + 2 * args.poll_interval_s)
            watcher.stop.set()
        finally:
            daemon.terminate()
            daemon.wait(timeout=15)
            thread.stop()

        missing = sorted(set(sent) - set(watcher.done))
        first = [(watcher.seen[i] - sent[i]) * 1000 for i in watcher.seen]
        done = [(watcher.done[i] - sent[i]) * 1000 for i in watcher.done]
        print(f"{len(done)} of {len(sent)} shows, trigger {args.trigger}: play → next episode on"
              f" the cache ({args.size_mb:g} MB episodes, Plex +{args.latency_ms} ms,"
              f" {args.gap_ms:g} ms between plays)")  # fmt: skip
        if first:
            print(summary("first byte", first))
        if done:
            print(summary("complete  ", done))
        if missing:
            print(f"  never seen: shows {missing}")
            return 1
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
