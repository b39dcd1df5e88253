"""The layered configuration: defaults, file, environment, saves, schema versions, errors."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from cacherr.config import ConfigStore, parse_size
from cacherr.config.models import SCHEMA_VERSION
from cacherr.config.store import CONFIG_NAME
from cacherr.errors import ConfigError


def write(folder: Path, data: Any) -> Path:
    path = folder / CONFIG_NAME
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def problems(exc: pytest.ExceptionInfo[ConfigError]) -> dict[str, str]:
    return {p.path: p.message for p in exc.value.problems}


def test_first_run_writes_a_complete_private_file_with_generated_secrets(tmp_path: Path) -> None:
    store = ConfigStore.open(tmp_path / "new")
    path = tmp_path / "new" / CONFIG_NAME
    data = json.loads(path.read_text())
    assert data["schema_version"] == SCHEMA_VERSION
    assert data["web"]["port"] == 5757
    assert len(data["web"]["api_key"]) == 32
    assert len(data["webhook"]["secret"]) >= 24
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert store.current.web.api_key is not None
    assert store.current.web.api_key.get_secret_value() == data["web"]["api_key"]
    assert "*" in repr(store.current.web.api_key)  # a secret never prints in clear


def test_a_file_without_version_or_secrets_is_read_as_current_and_completed(
    tmp_path: Path,
) -> None:
    write(tmp_path, {"cache": {"next_episodes": 3}})
    store = ConfigStore.open(tmp_path)
    assert store.current.cache.next_episodes == 3
    data = json.loads((tmp_path / CONFIG_NAME).read_text())
    assert data["cache"] == {"next_episodes": 3}
    assert data["web"]["api_key"] and data["webhook"]["secret"]
    assert "schema_version" not in data  # nothing rewritten beyond the generated secrets


def test_environment_overrides_the_file_and_is_never_written_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, {"web": {"port": 6000}, "cache": {"next_episodes": 2}})
    monkeypatch.setenv("CACHERR_WEB__PORT", "5799")
    store = ConfigStore.open(tmp_path)
    assert store.current.web.port == 5799
    assert store.env_locked == {"web.port"}
    store.save({"cache": {"next_episodes": 4}})
    data = json.loads((tmp_path / CONFIG_NAME).read_text())
    assert data["web"]["port"] == 6000
    assert data["cache"]["next_episodes"] == 4
    assert store.current.cache.next_episodes == 4
    assert store.current.web.port == 5799


def test_every_problem_is_listed_with_its_field_path(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "web": {"port": "many"},
            "cache": {"nxt_episodes": 3, "limit": "lots", "evict_target": 99},
            "bogus": True,
        },
    )
    before = path.read_bytes()
    with pytest.raises(ConfigError) as exc:
        ConfigStore.open(tmp_path)
    found = problems(exc)
    assert "web.port" in found and "'many'" in found["web.port"]
    assert "cache.nxt_episodes" in found and "Extra inputs" in found["cache.nxt_episodes"]
    assert "cache.limit" in found and "is not a size" in found["cache.limit"]
    assert "bogus" in found
    assert path.read_bytes() == before  # nothing overwritten


def test_evict_target_must_be_below_threshold(tmp_path: Path) -> None:
    write(tmp_path, {"cache": {"evict_threshold": 80, "evict_target": 90}})
    with pytest.raises(ConfigError) as exc:
        ConfigStore.open(tmp_path)
    assert "evict_target must be lower" in str(exc.value)


def test_json_syntax_error_gives_line_and_column(tmp_path: Path) -> None:
    write(tmp_path, '{\n  "web": {\n    "port": 5757,\n  }\n}\n')
    with pytest.raises(ConfigError) as exc:
        ConfigStore.open(tmp_path)
    (problem,) = exc.value.problems
    assert (problem.line, problem.column) == (4, 3)
    assert "line 4, column 3" in str(exc.value)


def test_a_json_array_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "[1, 2]")
    with pytest.raises(ConfigError, match="JSON object"):
        ConfigStore.open(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, {})
    path.chmod(0)
    with pytest.raises(ConfigError, match="cannot read"):
        ConfigStore.open(tmp_path)


def test_an_undecodable_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / CONFIG_NAME).write_bytes(b"\xff\xfe{")
    with pytest.raises(ConfigError, match="cannot read"):
        ConfigStore.open(tmp_path)


def test_a_bad_environment_value_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, {})
    monkeypatch.setenv("CACHERR_SESSIONS__POLL_INTERVAL_S", "soon")
    monkeypatch.setenv("CACHERR_WEB__PROT", "1")
    with pytest.raises(ConfigError) as exc:
        ConfigStore.open(tmp_path)
    found = problems(exc)
    assert "CACHERR_SESSIONS__POLL_INTERVAL_S" in found["sessions.poll_interval_s"]
    assert "CACHERR_WEB__PROT" in found["web.prot"]


def test_secrets_are_not_echoed_in_errors(tmp_path: Path) -> None:
    write(tmp_path, {"plex": {"token": 12345678}})
    with pytest.raises(ConfigError) as exc:
        ConfigStore.open(tmp_path)
    assert "12345678" not in str(exc.value)


def test_check_mode_writes_nothing(tmp_path: Path) -> None:
    store = ConfigStore.open(tmp_path / "absent", persist=False)
    assert store.current.web.port == 5757
    assert not (tmp_path / "absent").exists()


def test_save_is_atomic_keeps_mode_and_rejects_invalid_changes(tmp_path: Path) -> None:
    store = ConfigStore.open(tmp_path)
    path = tmp_path / CONFIG_NAME
    path.chmod(0o640)
    seen: list[int] = []
    store.on_change(lambda old, new: seen.append(new.cache.next_episodes))
    store.save({"cache": {"next_episodes": 9}})
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert json.loads(path.read_text())["cache"]["next_episodes"] == 9
    before = path.read_bytes()
    with pytest.raises(ConfigError):
        store.save({"cache": {"next_episodes": -1}})
    assert path.read_bytes() == before
    assert store.current.cache.next_episodes == 9
    assert seen == [9]
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


@pytest.mark.parametrize("version", ["one", 0, -1])
def test_a_schema_version_that_is_not_one_is_refused(tmp_path: Path, version: object) -> None:
    path = write(tmp_path, {"schema_version": version})
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="is not a schema version"):
        ConfigStore.open(tmp_path)
    assert path.read_bytes() == before


def test_a_file_from_a_newer_cacherr_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, {"schema_version": SCHEMA_VERSION + 1})
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="newer Cacherr"):
        ConfigStore.open(tmp_path)
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("text", "total", "expected"),
    [
        ("500GB", None, 500 * 10**9),
        ("1.5TiB", None, int(1.5 * 2**40)),
        ("1024", None, 1024),
        ("80%", 1000, 800),
        (" 10 mb ", None, 10**7),
    ],
)
def test_sizes(text: str, total: int | None, expected: int) -> None:
    assert parse_size(text, total) == expected


@pytest.mark.parametrize("text", ["lots", "120%", "-5GB", "5 parsecs"])
def test_bad_sizes(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message varies by mistake
        parse_size(text, 100)


def test_an_empty_environment_variable_counts_as_unset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, {"plex": {"url": "http://plex:32400"}})
    monkeypatch.setenv("CACHERR_PLEX__URL", "")
    store = ConfigStore.open(tmp_path)
    assert store.current.plex.url == "http://plex:32400"
    assert "plex.url" not in store.env_locked
