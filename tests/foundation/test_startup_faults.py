"""Start-up on a damaged database or a read-only config folder: one clear line, no traceback.

A damaged `cacherr.db` is moved aside under a timestamped name and an empty one starts (the
page says so and points at the audit, which adopts the files already on the cache).
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cacherr.app import create_app
from cacherr.config import ConfigStore
from cacherr.db import DB_NAME, Database, DatabaseError
from tests.conftest import ClientFactory
from tests.foundation.test_cli import cacherr, free_port
from tests.hardening.test_faults import tmpfs

PAGE_BYTES = 4096


def _damage(db_path: Path, how: str) -> bytes:
    if how == "not_sqlite":
        db_path.write_bytes(os.urandom(8 * PAGE_BYTES))
    else:  # a real database whose table pages were overwritten (bit rot, a torn write)
        data = bytearray(db_path.read_bytes())
        data[2 * PAGE_BYTES : 6 * PAGE_BYTES] = os.urandom(4 * PAGE_BYTES)
        db_path.write_bytes(bytes(data))
    return db_path.read_bytes()


def _kept(config_dir: Path) -> dict[str, bytes]:
    found = config_dir.glob(f"{DB_NAME}.corrupt-*")
    return {p.name: p.read_bytes() for p in found if not p.name.endswith(("-wal", "-shm"))}


def _remount_read_only(folder: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)


@pytest.mark.parametrize("how", ["not_sqlite", "damaged_pages"])
async def test_a_damaged_database_is_moved_aside_and_an_empty_one_starts(
    aiohttp_client: ClientFactory,
    config_dir: Path,
    caplog: pytest.LogCaptureFixture,
    how: str,
) -> None:
    store = ConfigStore.open(config_dir)
    db = await Database.open(config_dir / DB_NAME)
    await db.close()
    damaged = await asyncio.to_thread(_damage, config_dir / DB_NAME, how)
    client = await aiohttp_client(create_app(store))
    key = store.current.web.api_key
    assert key is not None
    headers = {"X-Api-Key": key.get_secret_value()}

    kept = await asyncio.to_thread(_kept, config_dir)
    assert list(kept.values()) == [damaged]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "damaged" in errors[0].getMessage()
    assert not [r for r in caplog.records if r.exc_info]
    health: dict[str, Any] = (await (await client.get("/api/health")).json())["data"]
    assert health["database"]["ok"]
    status = (await (await client.get("/api/status", headers=headers)).json())["data"]
    warning = {w["code"]: w["message"] for w in status["warnings"]}["database_replaced"]
    assert next(iter(kept)) in warning and "Audit" in warning


def _one_line_refusal(config: Path) -> str:
    proc = cacherr("run", "--config-dir", str(config), env={"CACHERR_WEB__PORT": str(free_port())})
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("Cacherr cannot start")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("first_run", [True, False])
def test_a_read_only_config_folder_is_one_clear_line(tmp_path: Path, first_run: bool) -> None:
    with tmpfs(tmp_path / "config", "8m") as config:
        if not first_run:  # what an earlier run left
            ConfigStore.open(config)
        _remount_read_only(config)
        line = _one_line_refusal(config)
    assert "Read-only file system" in line and "writable by Cacherr's user" in line


async def test_a_database_on_a_read_only_folder_says_why(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "config", "8m") as config:
        db = await Database.open(config / DB_NAME)
        await db.close()
        await asyncio.to_thread(_remount_read_only, config)
        with pytest.raises(DatabaseError, match="writable by Cacherr's user") as caught:
            await Database.open(config / DB_NAME)
    assert "readonly" in str(caught.value) or "unable to open" in str(caught.value)
