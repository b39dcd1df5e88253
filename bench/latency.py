"""Reaction latency: a Plex `media.play` webhook until the next episode's first byte on the cache.

The daemon runs as a real process (`python -m cacherr run --config-dir ...`); the simulated
Plex runs on its own thread with 20 ms added to every request. For each of 50 shows a
`media.play` of S01E01 is posted (real multipart body, secret in the URL); a watcher thread
polls the cache folders every millisecond for S01E02 — the temp file of its copy, or the
final name — holding at least one byte. Latency = first byte seen - the client's send time.

Usage: `python -P bench/latency.py [--shows 50] [--gap-ms 50] [--size-mb 8]` (-P keeps
bench/ off sys.path, where copy.py would shadow the standard library's copy module).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

from cacherr.fakeplex import FakePlexThread, World


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
    """Polls each show's season folder on the cache for the next episode's first byte."""

    def __init__(self, folders: dict[int, tuple[Path, str]]) -> None:
        super().__init__(daemon=True)
        self.pending = dict(folders)
        self.seen: dict[int, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while self.pending and not self.stop.is_set():
            for show, (folder, stem) in list(self.pending.items()):
                try:
                    entries = list(os.scandir(folder))
                except FileNotFoundError:
                    continue
                for entry in entries:
                    if stem in entry.name and entry.stat(follow_symlinks=False).st_size > 0:
                        self.seen[show] = time.perf_counter()
                        del self.pending[show]
                        break
            time.sleep(0.001)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shows", type=int, default=50)
    parser.add_argument("--gap-ms", type=float, default=50.0, help="time between webhooks")
    parser.add_argument("--size-mb", type=float, default=8.0, help="size of each episode")
    parser.add_argument("--latency-ms", type=int, default=20, help="added to every Plex call")
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
        port, secret = free_port(), uuid.uuid4().hex
        settings = {
            "plex": {"url": plex.url, "token": world.owner.token, "plextv_url": plex.plextv_url},
            "paths": {"mappings": [{"name": "tv", "plex": "/data", "array": str(array),
                                    "cache": str(cache)}]},
            "cache": {"next_episodes": 2, "min_free": "0B", "limit": "100%",
                      "copy_concurrency": 4},
            "sweep": {"on_start": False},
            "sessions": {"enabled": False},
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

            folders = {
                i: (cache / "tv" / show.title / "Season 01", "S01E02")
                for i, show in enumerate(shows)
            }
            watcher = Watcher(folders)
            watcher.start()
            sent: dict[int, float] = {}
            for i, show in enumerate(shows):
                ep = show.seasons[0].episodes[0]
                payload = {
                    "event": "media.play", "user": True, "owner": True,
                    "Account": {"id": 1, "title": "owner"},
                    "Metadata": {"ratingKey": str(ep.rating_key), "type": "episode",
                                 "grandparentRatingKey": str(show.rating_key),
                                 "parentRatingKey": str(ep.season.rating_key),
                                 "title": ep.title, "grandparentTitle": show.title,
                                 "index": 1, "parentIndex": 1},
                }  # fmt: skip
                body, ctype = multipart(payload)
                request = urllib.request.Request(
                    f"{base}/api/webhooks/plex?secret={secret}", data=body,
                    headers={"Content-Type": ctype}, method="POST",
                )  # fmt: skip
                sent[i] = time.perf_counter()
                with urllib.request.urlopen(request, timeout=5) as resp:
                    assert resp.status == 202
                time.sleep(args.gap_ms / 1000)
            watcher.join(timeout=30)
            watcher.stop.set()
        finally:
            daemon.terminate()
            daemon.wait(timeout=15)
            thread.stop()

        missing = sorted(set(sent) - set(watcher.seen))
        latencies = sorted((watcher.seen[i] - sent[i]) * 1000 for i in watcher.seen)
        print(f"{len(latencies)} of {len(sent)} shows: webhook sent → first byte of the next "
              f"episode on the cache ({args.size_mb:g} MB episodes, Plex +{args.latency_ms} ms,"
              f" {args.gap_ms:g} ms between webhooks)")  # fmt: skip
        if latencies:
            p95 = latencies[max(0, round(0.95 * len(latencies)) - 1)]
            print(f"  p50 {statistics.median(latencies):.0f} ms   p95 {p95:.0f} ms   "
                  f"max {latencies[-1]:.0f} ms   min {latencies[0]:.0f} ms")  # fmt: skip
        if missing:
            print(f"  never seen: shows {missing}")
            return 1
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
