"""`cacherr import-plexcache`: a PlexCache settings file carried over, the rest explained."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from cacherr.config import ConfigStore
from cacherr.plexcache_import import from_plexcache

PLEXCACHE = {
    "firststart": False,
    "PLEX_URL": "http://192.168.1.10:32400",
    "PLEX_TOKEN": "plexcache-token-123",
    "number_episodes": 6,
    "valid_sections": [1, 2],
    "days_to_monitor": 99,
    "watchlist_toggle": True,
    "watchlist_episodes": 3,
    "watchlist_cache_expiry": 6,
    "users_toggle": False,
    "skip_ondeck": ["a-user-token"],
    "skip_watchlist": [],
    "watched_cache_expiry": 48,
    "watched_move": True,
    "plex_source": "/media/",
    "real_source": "/mnt/user/media/",
    "cache_dir": "/mnt/cache/media/",
    "plex_library_folders": ["movies", "tv"],
    "nas_library_folders": ["Movies", "TV Shows"],
    "exit_if_active_session": False,
    "max_concurrent_moves_cache": 5,
    "max_concurrent_moves_array": 2,
    "debug": False,
}


def test_the_settings_translate_and_the_array_avoids_the_union() -> None:
    result = from_plexcache(PLEXCACHE)
    patch = result.patch
    assert patch["plex"] == {
        "url": "http://192.168.1.10:32400",
        "token": "plexcache-token-123",
        "sections": ["1", "2"],
    }
    assert patch["cache"] == {"next_episodes": 6, "copy_concurrency": 5, "restore_concurrency": 2}
    assert patch["watchlist"] == {"episodes": 3}
    assert patch["retention"] == {"hours": 48.0}
    assert patch["users"]["main"] == {"days_to_monitor": 99, "watchlist": True}
    assert patch["users"]["shared"] == {"days_to_monitor": 99, "enabled": False}
    assert patch["paths"]["mappings"] == [
        {"name": "Movies", "plex": "/media/movies", "array": "/mnt/user0/media/Movies",
         "cache": "/mnt/cache/media/Movies"},
        {"name": "TV Shows", "plex": "/media/tv", "array": "/mnt/user0/media/TV Shows",
         "cache": "/mnt/cache/media/TV Shows"},
    ]  # fmt: skip
    noted = dict(result.notes)
    assert "real_source" in noted and "/mnt/user0" in noted["real_source"]
    assert set(noted) >= {"skip_ondeck", "watchlist_cache_expiry", "debug", "firststart"}


def test_the_command_saves_a_valid_config_and_never_prints_the_token(tmp_path: Path) -> None:
    source = tmp_path / "plexcache_settings.json"
    source.write_text(json.dumps(PLEXCACHE))
    config = tmp_path / "config"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CACHERR_")}
    proc = subprocess.run(
        [sys.executable, "-m", "cacherr", "import-plexcache", str(source), "--config-dir",
         str(config)],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "plexcache-token-123" not in proc.stdout + proc.stderr
    assert "✓ plex.token = (set)" in proc.stdout
    store = ConfigStore.open(config)
    assert store.current.plex.url == "http://192.168.1.10:32400"
    assert store.current.cache.next_episodes == 6
    assert [m.array for m in store.current.paths.mappings] == [
        "/mnt/user0/media/Movies",
        "/mnt/user0/media/TV Shows",
    ]


def test_a_broken_file_is_refused_and_nothing_written(tmp_path: Path) -> None:
    source = tmp_path / "plexcache_settings.json"
    source.write_text("{not json")
    proc = subprocess.run(
        [sys.executable, "-m", "cacherr", "import-plexcache", str(source), "--config-dir",
         str(tmp_path / "config")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 1 and "cannot read" in proc.stderr
    assert not (tmp_path / "config").exists()
