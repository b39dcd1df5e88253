"""Crash campaign: the real daemon killed with SIGKILL at random moments, restarted each time.

A simulated Plex (in this process) serves a small library whose files are real; viewers
play and finish episodes through Plex-style webhooks, so the daemon caches the next
episodes, restores the ones left behind (retention 0) and evicts under a small
`cache.limit`. At random moments the daemon (`python -m cacherr run --config-dir …`) is
killed with SIGKILL and started again. At the end it is started once more, left to settle
and stopped with SIGTERM, and the sandbox is checked against the hash manifest made when
the library was built:

- every media file's bytes equal the original's, visible exactly once under its own name
  (union mode: the union of array and cache, as users see it; symlink mode: the array name,
  a symlink to the cache copy while cached), and every backup equals it too;
- no temp file anywhere; no journal row left `running`;
- database and disk agree: each `managed_files` row has its cache copy (and its backup),
  and each cache copy and backup has its row.

    python -m bench.crash_campaign [--kills 200] [--seed 1] [--mode union|symlink] [--dir DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cacherr.config.store import ConfigStore
from cacherr.fakeplex import FakePlexThread, World
from cacherr.fakeplex.model import Episode, Show, User
from cacherr.files import names

FILE_BYTES = 512 * 1024
API_KEY = "crash-campaign-api-key"
SECRET = "crash-campaign-webhook-secret"


@dataclass
class Report:
    """What the campaign did and found."""

    kills: int = 0
    kills_with_temp_on_disk: int = 0
    kills_with_running_rows: int = 0
    webhooks_sent: int = 0
    operations: dict[str, int] = field(default_factory=dict)
    files: int = 0
    cached_at_end: int = 0
    problems: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The figures, one per line."""
        ops = ", ".join(f"{k} {v}" for k, v in sorted(self.operations.items()))
        return [
            f"kills: {self.kills} (a temp file on disk at {self.kills_with_temp_on_disk}, "
            f"journal rows running at {self.kills_with_running_rows})",
            f"webhooks sent: {self.webhooks_sent}",
            f"journaled operations by kind/state: {ops}",
            f"media files checked: {self.files}; on the cache at the end: {self.cached_at_end}",
            f"problems: {len(self.problems)}",
            *(f"  - {p}" for p in self.problems[:50]),
        ]


def build_world(root: Path, file_bytes: int = FILE_BYTES) -> World:
    """Three shows and a movie, three viewers; random bytes so each file differs."""
    world = World(array_root=root / "array", plex_root="/data", file_bytes=16)
    for title, seasons in (("Alpha", {1: 8}), ("Bravo", {1: 6, 2: 6}), ("Charlie", {1: 10})):
        world.add_show(title, seasons=seasons, subtitles=["en"])
    world.add_movie("Delta", 2001)
    rng = random.Random(7)
    for path in sorted((root / "array").rglob("*")):
        if path.is_file() and path.suffix == ".mkv":
            path.write_bytes(rng.randbytes(file_bytes))
    for name in ("ann", "ben", "cat"):
        world.add_user(name, kind="home")
    return world


def manifest(array: Path) -> dict[str, str]:
    """sha256 of every original file, by path relative to the array root."""
    return {
        str(p.relative_to(array)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(array.rglob("*"))
        if p.is_file()
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def settings(root: Path, plex: Any, world: World, port: int, mode: str) -> dict[str, Any]:
    return {
        "plex": {
            "url": plex.url,
            "token": world.owner.token,
            "plextv_url": plex.plextv_url,
            "discover_url": plex.discover_url,
            "metadata_url": plex.metadata_url,
            "plextv_min_interval_ms": 0,
            "timeout_s": 3,
        },
        "paths": {
            "mode": mode,
            "mappings": [
                {
                    "name": "media",
                    "plex": "/data",
                    "array": str(root / "array"),
                    "cache": str(root / "cache"),
                }
            ],
        },
        "cache": {
            "next_episodes": 3,
            "limit": "4MB",
            "min_free": "0%",
            "evict_threshold": 90,
            "evict_target": 60,
            "copy_concurrency": 2,
            "restore_concurrency": 2,
            "verify": "full",
        },
        "retention": {"hours": 0},
        "sessions": {"enabled": False},
        "sweep": {"on_start": True, "interval_s": 60},
        "web": {"host": "127.0.0.1", "port": port, "api_key": API_KEY},
        "webhook": {"secret": SECRET},
        "mover": {"pid_file": str(root / "mover.pid")},
    }


class Viewers:
    """People working through shows, told to the daemon as Plex webhooks."""

    def __init__(self, world: World, url: str, seed: int) -> None:
        self.world = world
        self.url = url
        self.rng = random.Random(seed)
        self.shows = [i for i in world.items.values() if isinstance(i, Show)]
        self.position: dict[tuple[int, int], int] = {}
        self.sent = 0

    def _episodes(self, show: Show) -> list[Episode]:
        return [ep for season in show.seasons for ep in season.episodes]

    def step(self) -> None:
        """One viewer finishes what they watched (scrobble) and plays the next episode."""
        user = self.rng.choice([u for u in self.world.users if u.kind == "home"])
        show = self.rng.choice(self.shows)
        episodes = self._episodes(show)
        key = (user.id, show.rating_key)
        pos = self.position.get(key, self.rng.randrange(len(episodes)))
        current = episodes[pos % len(episodes)]
        self.world.watch(user, current)
        self._send("media.scrobble", user, current)
        pos = (pos + 1) % len(episodes)
        self.position[key] = pos
        self._send("media.play", user, episodes[pos])

    def _send(self, event: str, user: User, episode: Episode) -> None:
        payload = {
            "event": event,
            "user": True,
            "owner": False,
            "Account": {"id": user.id, "title": user.title},
            "Metadata": {
                "type": "episode",
                "ratingKey": str(episode.rating_key),
                "parentRatingKey": str(episode.season.rating_key),
                "grandparentRatingKey": str(episode.season.show.rating_key),
                "index": episode.index,
                "parentIndex": episode.parent_index,
            },
        }
        boundary = "campaignboundary"
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="payload"\r\n'
            f"Content-Type: application/json\r\n\r\n{json.dumps(payload)}\r\n--{boundary}--\r\n"
        ).encode()
        request = urllib.request.Request(
            self.url, data=body, method="POST",
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )  # fmt: skip
        with contextlib.suppress(OSError), urllib.request.urlopen(request, timeout=2):
            self.sent += 1


class Daemon:
    """The daemon as a child process."""

    def __init__(self, config_dir: Path, port: int, log_path: Path) -> None:
        self.config_dir = config_dir
        self.port = port
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "cacherr", "run", "--config-dir", str(self.config_dir)],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def get(self, path: str, timeout_s: float = 2) -> Any:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", headers={"X-Api-Key": API_KEY}
        )
        with urllib.request.urlopen(request, timeout=timeout_s) as resp:
            return json.loads(resp.read())

    def wait_healthy(self, timeout_s: float = 20) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            assert self.proc is not None
            if self.proc.poll() is not None:
                code = self.proc.returncode
                raise RuntimeError(f"the daemon exited with {code}; see {self.log_path}")
            with contextlib.suppress(OSError, ValueError):
                self.get("/api/health", 0.5)
                return time.monotonic() - started
            time.sleep(0.05)
        raise RuntimeError(f"the daemon did not answer within {timeout_s} s; see {self.log_path}")

    def wait_idle(self, quiet_s: float = 1.5, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            active = self.get("/api/operations?limit=1")["data"]["active"]
            if active:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= quiet_s:
                return
            time.sleep(0.1)
        raise RuntimeError("the daemon did not settle")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


def running_rows(db_path: Path) -> int:
    with contextlib.closing(sqlite3.connect(db_path, timeout=10)) as db:
        row = db.execute("SELECT COUNT(*) FROM operations WHERE state='running'").fetchone()
        return int(row[0])


def _visible(on_array: Path, on_cache: Path, mode: str) -> tuple[list[Path], str | None]:
    """The names a user sees the file under, and what is wrong with them (None: nothing)."""
    if mode == "union":
        return [p for p in (on_array, on_cache) if p.exists()], None
    if on_array.is_symlink():
        if os.readlink(on_array) != str(on_cache):
            return [on_array], f"{on_array} links to {os.readlink(on_array)}"
        if not on_cache.exists():
            return [], f"{on_array} links to a missing cache copy"
    elif on_cache.exists():
        return [on_array], f"{on_array} is no symlink, yet the file is on the cache"
    return [on_array] if on_array.exists() else [], None


def check(
    root: Path, originals: dict[str, str], db_path: Path, report: Report, mode: str = "union"
) -> None:
    """The end state against the manifest and the database (see the module docstring)."""
    array, cache = root / "array", root / "cache"
    problems = report.problems
    for side in (array, cache):
        for path in side.rglob("*"):
            if names.is_temp(path):
                problems.append(f"temp file left: {path}")
    with contextlib.closing(sqlite3.connect(db_path, timeout=10)) as db:
        db.row_factory = sqlite3.Row
        rows = {r["rel_path"]: r for r in db.execute("SELECT * FROM managed_files")}
        running = db.execute("SELECT id, kind, rel_path FROM operations WHERE state='running'")
        problems.extend(f"journal row still running: {tuple(r)}" for r in running)
        counts = db.execute("SELECT kind, state, COUNT(*) FROM operations GROUP BY kind, state")
        report.operations = {f"{k}/{s}": n for k, s, n in counts}
    for rel, digest in originals.items():
        report.files += 1
        on_array, on_cache = array / rel, cache / rel
        backup = names.backup_path(on_array)
        visible, wrong = _visible(on_array, on_cache, mode)
        if wrong is not None:
            problems.append(wrong)
        if len(visible) != 1:
            problems.append(f"{rel} visible {len(visible)} times")
        for path in (*visible, *([backup] if backup.exists() else [])):
            if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
                problems.append(f"{path} differs from the original")
        if on_cache.exists():
            report.cached_at_end += 1
            if rel not in rows:
                problems.append(f"{rel} is on the cache without a managed_files row")
            if not backup.exists():
                problems.append(f"{rel} is on the cache without its backup")
        elif backup.exists():
            problems.append(f"{rel} has a backup but no cache copy")
        if rel in rows and not on_cache.exists():
            problems.append(f"{rel} has a managed_files row but no cache copy")
    for rel in rows:
        if rel not in originals:
            problems.append(f"managed_files row for an unknown file {rel}")


def campaign(
    kills: int, root: Path, *, seed: int = 1, mode: str = "union", log: Any = print
) -> Report:
    """Run the campaign in `root` (made if missing); returns the report."""
    rng = random.Random(seed)
    (root / "cache").mkdir(parents=True, exist_ok=True)
    world = build_world(root)
    originals = manifest(root / "array")
    plex_thread = FakePlexThread(world)
    plex = plex_thread.start()
    report = Report()
    port = free_port()
    config_dir = root / "config"
    store = ConfigStore.open(config_dir)
    store.save(settings(root, plex, world, port, mode))
    del store
    daemon = Daemon(config_dir, port, root / "daemon.log")
    viewers = Viewers(world, f"http://127.0.0.1:{port}/api/webhooks/plex?secret={SECRET}", seed)
    try:
        for n in range(kills):
            daemon.start()
            daemon.wait_healthy()
            killer = threading.Timer(rng.uniform(0.0, 1.5), daemon.kill)
            killer.start()
            while killer.is_alive():
                viewers.step()
                time.sleep(rng.uniform(0.0, 0.2))
            killer.join()
            report.kills += 1
            temps = [p for p in root.rglob("*") if names.is_temp(p)]
            report.kills_with_temp_on_disk += bool(temps)
            report.kills_with_running_rows += bool(running_rows(config_dir / "cacherr.db"))
            if (n + 1) % 25 == 0:
                log(f"  {n + 1} kills")
        daemon.start()
        daemon.wait_healthy()
        daemon.wait_idle()
        code = daemon.stop()
        if code != 0:
            report.problems.append(f"the daemon's clean stop exited with {code}")
    finally:
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.kill()
        plex_thread.stop()
    report.webhooks_sent = viewers.sent
    check(root, originals, config_dir / "cacherr.db", report, mode)
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--mode", choices=("union", "symlink"), default="union")
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    root = args.dir or Path(tempfile.mkdtemp(prefix="cacherr-crash-"))
    started = time.monotonic()
    report = campaign(args.kills, root, seed=args.seed, mode=args.mode)
    print(f"crash campaign ({args.mode} mode) in {root}, {time.monotonic() - started:.0f} s:")
    for line in report.lines():
        print("  " + line)
    return 1 if report.problems else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
