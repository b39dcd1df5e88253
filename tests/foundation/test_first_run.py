"""`cacherr run` as a new user starts it: the page's address as another machine reaches it,
"open it to create your login", and what is still to set up in `cacherr check`'s words."""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from cacherr.checks import NO_MAPPINGS, PLEX_NOT_CONFIGURED
from tests.foundation.test_cli import cacherr, free_port


def read_until(proc: subprocess.Popen[str], marker: str, timeout_s: float) -> str:
    """Standard output up to and including the line holding `marker`."""
    assert proc.stdout is not None
    seen = ""
    deadline = time.monotonic() + timeout_s
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while marker not in seen:
            left = deadline - time.monotonic()
            assert left > 0 and proc.poll() is None, f"no {marker!r} in: {seen!r}"
            if sel.select(left):  # raw reads: a text reader's buffer would hide lines
                seen += os.read(proc.stdout.fileno(), 65536).decode()
    return seen


def stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    assert proc.returncode == 0


def test_run_says_where_to_open_the_page_and_what_is_missing(tmp_path: Path) -> None:
    port = free_port()
    other = free_port()
    config = tmp_path / "config"
    # --port wins over the environment for this run; the environment still applies otherwise.
    proc = cacherr("run", "--config-dir", str(config), "--host", "0.0.0.0", "--port", str(port),
                   env={"CACHERR_WEB__PORT": str(other)})  # fmt: skip
    try:
        out = read_until(proc, NO_MAPPINGS.fix, timeout_s=60)
        assert "0.0.0.0" not in out
        url = re.search(rf"http://[^\s/]+:{port}", out)
        assert url is not None, out
        assert "localhost" not in url.group() and "127.0.0.1" not in url.group()
        # The printed address is reachable (from this machine, as from any on its network).
        with urllib.request.urlopen(url.group() + "/api/auth/status", timeout=5) as resp:
            status = json.load(resp)["data"]
        assert status["setup_required"] is True
        assert "Open it to create your login." in out
        # The one-time set-up code the first visit needs, right under it (as in the log).
        code = (config / "setup-code").read_text(encoding="utf-8").strip()
        assert f"with the set-up code {code}" in out.split("Open it to create your login.")[1]
        for gap in (PLEX_NOT_CONFIGURED, NO_MAPPINGS):
            assert gap.line() in out
    finally:
        stop(proc)
    checked = subprocess.run(
        [*cacherr_argv(), "check", "--config-dir", str(config)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    for gap in (PLEX_NOT_CONFIGURED, NO_MAPPINGS):
        assert gap.line() in checked.stdout  # the very words `cacherr check` uses


def cacherr_argv() -> list[str]:
    return [sys.executable, "-m", "cacherr"]


def test_run_on_loopback_says_only_this_machine_can_open_it(tmp_path: Path) -> None:
    port = free_port()
    proc = cacherr("run", "--config-dir", str(tmp_path), "--host", "127.0.0.1", "--port", str(port))
    try:
        out = read_until(proc, "--host 0.0.0.0", timeout_s=60)
        assert f"http://127.0.0.1:{port}" in out
        assert "Only this machine can open it" in out
    finally:
        stop(proc)


def test_the_readme_lists_every_command() -> None:
    from cacherr.cli import build_parser

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme.split("## Commands", 1)[1].split("\n\n", 2)[1]
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command")
    for name, sub in commands.choices.items():  # type: ignore[union-attr]
        row = next((line for line in table.splitlines() if f"`cacherr {name}" in line), None)
        assert row is not None, f"`cacherr {name}` is missing from the README's commands table"
        for action in sub._actions:
            for flag in action.option_strings:
                if flag.startswith("--") and flag != "--help":
                    assert flag in row, f"{flag} of `cacherr {name}` is not in the README"
