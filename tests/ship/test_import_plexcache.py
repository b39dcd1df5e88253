"""`cacherr import-plexcache`: a PlexCache settings file carried over, the rest explained."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from cacherr.config import ConfigStore
from cacherr.config.models import Settings
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


# PlexCache-R/D's current settings (StudioNirin/PlexCache-R, core/config.py at b03c3a8:
# `PathMapping` with name, plex_path, real_path, cache_path (None when not cacheable),
# host_cache_path (the host's pool path for the mover's exclude file when the container
# mounts it elsewhere), cacheable, enabled, section_id; saved as the `path_mappings` list
# beside the legacy plex_source / real_source / cache_dir it was migrated from).
CURRENT = {
    "PLEX_URL": "http://192.168.1.10:32400",
    "PLEX_TOKEN": "plexcache-token-123",
    "plex_source": "/data/",
    "real_source": "/mnt/user/media/",
    "cache_dir": "/mnt/cache/",
    "path_mappings": [
        {"name": "Movies", "plex_path": "/data/movies/", "real_path": "/mnt/user/media/movies/",
         "cache_path": "/mnt/cache/media/movies/", "host_cache_path": "/mnt/cache/media/movies/",
         "cacheable": True, "enabled": True, "section_id": 1},
        {"name": "TV", "plex_path": "/data/tv/", "real_path": "/mnt/user/media/tv/",
         "cache_path": "/mnt/cache/media/tv/",
         "host_cache_path": "/mnt/cache_nvme/media/tv/", "cacheable": True, "enabled": True,
         "section_id": 2},
        {"name": "Remote", "plex_path": "/remote/", "real_path": "/mnt/remotes/nas/",
         "cache_path": None, "host_cache_path": None, "cacheable": False, "enabled": True,
         "section_id": 3},
        {"name": "Old", "plex_path": "/old/", "real_path": "/mnt/user/old/",
         "cache_path": "/mnt/cache/old/", "cacheable": True, "enabled": False},
    ],
}  # fmt: skip


def test_the_current_path_mappings_list_is_imported_mapping_by_mapping() -> None:
    """PlexCache-R/D's `path_mappings` (source above): each enabled entry is one Cacherr
    mapping, its array read through /mnt/user0, `host_cache_path` kept where it differs
    from the cache path, `cacheable: false` kept; the legacy keys are not used."""
    result = from_plexcache(CURRENT)
    assert result.patch["paths"]["mappings"] == [
        {"name": "Movies", "plex": "/data/movies", "array": "/mnt/user0/media/movies",
         "cache": "/mnt/cache/media/movies"},
        {"name": "TV", "plex": "/data/tv", "array": "/mnt/user0/media/tv",
         "cache": "/mnt/cache/media/tv", "host_cache": "/mnt/cache_nvme/media/tv"},
        {"name": "Remote", "plex": "/remote", "array": "/mnt/remotes/nas",
         "cache": "/mnt/remotes/nas", "cacheable": False},
    ]  # fmt: skip
    noted = dict(result.notes)
    assert "disabled" in noted["path_mappings.3"]
    assert "superseded by path_mappings" in noted["cache_dir"]
    Settings.model_validate(result.patch)  # a valid Cacherr configuration


def test_a_cache_dir_of_the_whole_pool_against_one_share_is_refused() -> None:
    """PlexCache-R #136: `real_source=/mnt/user/Media/` with `cache_dir=/mnt/cache/` made
    the array /mnt/user0/Media against the cache /mnt/cache, so copies would land outside
    the share. Such a mapping is not imported; the note says why and what was meant."""
    legacy = {
        "plex_source": "/media/",
        "real_source": "/mnt/user/Media/",
        "cache_dir": "/mnt/cache/",
    }
    result = from_plexcache(legacy)
    assert "paths" not in result.patch
    why = dict(result.notes)["cache_dir"]
    assert "outside the share" in why and "/mnt/cache/Media" in why
    entry = {"name": "M", "plex_path": "/m", "real_path": "/mnt/user/Media/Films",
             "cache_path": "/mnt/cache/Movies/Films"}  # fmt: skip
    refused = from_plexcache({"path_mappings": [entry]})
    assert "paths" not in refused.patch
    assert "share 'Media'" in dict(refused.notes)["path_mappings.0"]
