"""The command line as a user runs it: real processes, real ports, real signals."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import socketio

from cacherr import __version__


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cacherr(*args: str, env: dict[str, str] | None = None, **kw: Any) -> subprocess.Popen[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CACHERR_")}
    full_env.update(env or {})
    return subprocess.Popen(
        [sys.executable, "-m", "cacherr", *args],
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def wait_healthy(
    port: int, timeout_s: float, alive: Callable[[], bool] = lambda: True
) -> dict[str, Any]:
    """The daemon's first answer to `GET /api/health`; fails at the deadline or, if `alive()`
    turns false, as soon as the daemon has ended."""
    deadline = time.monotonic() + timeout_s
    while True:
        assert alive(), "the daemon ended before it answered"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=1) as r:
                return dict(json.load(r))
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int, Path]]:
    port = free_port()
    config = tmp_path / "config"
    proc = cacherr(
        "run",
        "--config-dir",
        str(config),
        env={"CACHERR_WEB__PORT": str(port), "CACHERR_WEB__HOST": "127.0.0.1"},
    )
    yield proc, port, config
    if proc.poll() is None:
        proc.kill()
    proc.communicate()


def test_run_on_an_empty_folder_writes_defaults_and_becomes_healthy(
    daemon: tuple[subprocess.Popen[str], int, Path],
) -> None:
    _proc, port, config = daemon
    body = wait_healthy(port, timeout_s=30)
    assert body["success"] is True
    written = json.loads((config / "cacherr.json").read_text())
    assert written["web"]["port"] == 5757  # the environment's port is not written back
    assert (config / "cacherr.db").exists()


def test_sigterm_stops_cleanly_and_releases_the_folder(
    daemon: tuple[subprocess.Popen[str], int, Path],
) -> None:
    proc, port, _config = daemon
    wait_healthy(port, timeout_s=30)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    _out, err = proc.communicate()
    assert "Cacherr stopped" in err


def test_a_second_daemon_on_the_same_folder_refuses_and_names_the_holder(
    daemon: tuple[subprocess.Popen[str], int, Path],
) -> None:
    proc, port, config = daemon
    wait_healthy(port, timeout_s=30)
    other = cacherr("run", "--config-dir", str(config), env={"CACHERR_WEB__PORT": str(free_port())})
    _out, err = other.communicate(timeout=20)
    assert other.returncode == 1
    assert f"pid {proc.pid}" in err


def test_run_refuses_a_broken_file_and_lists_every_problem(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    broken = '{"web": {"port": "x"}, "cache": {"nxt_episodes": 1}}'
    (config / "cacherr.json").write_text(broken)
    proc = cacherr("run", "--config-dir", str(config))
    _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 2
    assert "web.port" in err and "cache.nxt_episodes" in err
    assert (config / "cacherr.json").read_text() == broken


def test_check_reports_and_changes_nothing(tmp_path: Path) -> None:
    config = tmp_path / "config"
    proc = cacherr("check", "--config-dir", str(config))
    out, _err = proc.communicate(timeout=60)
    assert out.startswith("✓ configuration")
    # A fresh set-up has neither mappings nor Plex yet: each is a ✗ with its fix.
    assert "✗ path mappings" in out and "✗ plex: Plex is not configured" in out
    assert out.count("fix: ") >= 2
    assert proc.returncode == 1
    assert not config.exists()
    config.mkdir()
    (config / "cacherr.json").write_text('{"web": {"port": 70000}}')
    proc = cacherr("check", env={"CACHERR_CONFIG_DIR": str(config)})
    out, _err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "✗ configuration" in out and "web.port" in out


def test_version() -> None:
    proc = cacherr("--version")
    out, _err = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert out.strip() == f"cacherr {__version__}"


# Docker sends SIGKILL 10 s after SIGTERM (mid-copy, if one runs): stop well inside that.
STOP_DEADLINE_S = 5.0


def _stalled_session(port: int) -> None:
    # An engine.io session opened over HTTP long-polling by a page that then stopped polling
    # (a laptop put to sleep): its CLOSE packet will never be read.
    url = f"http://127.0.0.1:{port}/socket.io/?EIO=4&transport=polling"
    with urllib.request.urlopen(url, timeout=5) as r:
        assert b'"sid"' in r.read()


@pytest.mark.parametrize("page", ["websocket", "stalled_polling"])
async def test_sigterm_with_the_page_connected_stops_at_once(
    daemon: tuple[subprocess.Popen[str], int, Path], page: str
) -> None:
    proc, port, config = daemon
    await asyncio.to_thread(wait_healthy, port, 30)
    client = socketio.AsyncClient(reconnection=False)
    if page == "websocket":
        key = json.loads((config / "cacherr.json").read_text())["web"]["api_key"]
        status = asyncio.Event()
        client.on("status", lambda _body: status.set())
        url = f"http://127.0.0.1:{port}"
        await client.connect(url, transports=["websocket"], auth={"apikey": key})
        await asyncio.wait_for(status.wait(), 10)  # connected and served
    else:
        await asyncio.to_thread(_stalled_session, port)
    try:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(proc.wait, STOP_DEADLINE_S)
    finally:
        await client.disconnect()
    assert code == 0
    assert "Cacherr stopped" in proc.communicate()[1]
