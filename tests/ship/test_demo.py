"""`cacherr demo`: a real process on the simulated Plex caches something within a minute."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.foundation.test_cli import free_port


def test_the_demo_caches_within_a_minute_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CACHERR_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cacherr", "demo", "--dir", str(tmp_path), "--port", str(port),
         "--speed", "20"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        cached: list[Path] = []
        while time.monotonic() < deadline and not cached:
            time.sleep(0.5)
            cached = [p for p in (tmp_path / "cache").rglob("*.mkv") if p.is_file()]
        assert cached, "nothing was cached within a minute"
        for copy in cached:
            rel = copy.relative_to(tmp_path / "cache")
            backup = tmp_path / "array" / rel.parent / (rel.name + ".plexcached")
            if backup.exists():  # not still being renamed
                assert backup.read_bytes() == copy.read_bytes()
        url = f"http://127.0.0.1:{port}/api/health"
        with urllib.request.urlopen(url, timeout=5) as resp:
            health = json.load(resp)["data"]
        assert health["plex"]["state"] == "connected"
        # The viewers act through Plex-style webhooks: reactions follow.
        deadline = time.monotonic() + 30
        activity = f"http://127.0.0.1:{port}/api/activity"
        seen = ""
        while time.monotonic() < deadline and "Playing" not in seen:
            time.sleep(0.5)
            with urllib.request.urlopen(activity, timeout=5) as resp:
                seen = json.dumps(json.load(resp)["data"])
        assert "Playing" in seen
        # Shared users' on-deck comes from Plex's database, as on a real 2026 server where
        # plex.tv gives no token for invited users (DOMAIN.md; Plex's forum and PlexCache-R).
        users_url = f"http://127.0.0.1:{port}/api/users"
        deadline = time.monotonic() + 30
        sources: dict[str, str] = {}
        while time.monotonic() < deadline and (
            not sources or set(sources.values()) != {"database"}
        ):
            time.sleep(0.5)
            with urllib.request.urlopen(users_url, timeout=5) as resp:
                listed = json.load(resp)["data"]
            sources = {
                u["name"]: u["ondeck_source"]["source"] for u in listed if u["kind"] == "shared"
            }
        assert sources and set(sources.values()) == {"database"}, sources
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err[-2000:]
    assert not list(tmp_path.rglob("*.cacherr-tmp")), "a temp file was left behind"
