"""`cacherr demo --host` opens the page to the network (behind a login); Ctrl-C says where the
sandbox was and removes it, unless it was given with --dir."""

from __future__ import annotations

import json
import re
import signal
import urllib.request
from pathlib import Path

from tests.foundation.test_cli import cacherr, free_port
from tests.foundation.test_first_run import read_until


def test_demo_on_the_network_and_its_sandbox_removed_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    proc = cacherr("demo", "--host", "0.0.0.0", "--port", str(port), "--speed", "20",
                   env={"TMPDIR": str(tmp_path)})  # fmt: skip
    try:
        out = read_until(proc, "Ctrl-C stops", timeout_s=120)
        found = re.search(r"sandbox  (\S+)", out)
        assert found is not None, out
        sandbox = Path(found.group(1))
        assert sandbox.parent == tmp_path and (sandbox / "config" / "cacherr.json").exists()
        url = re.search(rf"http://[^\s/]+:{port}", out)
        assert url is not None and "0.0.0.0" not in out, out
        assert "open it to create your login" in out
        with urllib.request.urlopen(url.group() + "/api/auth/status", timeout=10) as resp:
            assert json.load(resp)["data"]["setup_required"] is True
    finally:
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    assert f"its sandbox {sandbox} was removed" in rest
    assert not sandbox.exists()


def test_a_sandbox_given_with_dir_stays(tmp_path: Path) -> None:
    port = free_port()
    proc = cacherr("demo", "--dir", str(tmp_path), "--port", str(port))
    try:
        out = read_until(proc, "Ctrl-C stops", timeout_s=120)
        assert f"http://127.0.0.1:{port}" in out
    finally:
        proc.send_signal(signal.SIGINT)
        rest, _err = proc.communicate(timeout=60)
    assert f"the sandbox stays in {tmp_path} (--dir)" in rest
    assert (tmp_path / "config" / "cacherr.json").exists()
