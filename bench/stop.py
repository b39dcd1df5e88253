"""How long `cacherr run` takes to stop on SIGTERM with the page connected.

Docker sends SIGKILL 10 s after SIGTERM; the target is 2 s. Starts the daemon on a fresh
config folder, connects a Socket.IO client over websocket (as the page does), sends
SIGTERM and times the exit. (Polling needs the page's Origin on its POSTs, which this client
does not send; `tests/foundation/test_cli.py` covers a polling page that stopped polling.)

    python -m bench.stop --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import socketio

from bench.crash_campaign import free_port


def _start(port: int, config: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CACHERR_")}
    env.update(CACHERR_WEB__PORT=str(port), CACHERR_WEB__HOST="127.0.0.1")
    command = [sys.executable, "-m", "cacherr", "run", "--config-dir", str(config)]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=1).close()
            return proc
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


async def stop_time_s(transport: str | None) -> float:
    """Seconds from SIGTERM to exit, with a page connected over `transport` (None: no page)."""
    port, config = free_port(), Path(tempfile.mkdtemp()) / "config"
    proc = await asyncio.to_thread(_start, port, config)
    page = socketio.AsyncClient(reconnection=False)
    if transport is not None:
        key = json.loads((config / "cacherr.json").read_text())["web"]["api_key"]
        served = asyncio.Event()
        page.on("status", lambda _body: served.set())
        url = f"http://127.0.0.1:{port}"
        await page.connect(
            url, transports=[transport], auth={"apikey": key}, headers={"Origin": url}
        )
        await asyncio.wait_for(served.wait(), 10)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    await asyncio.to_thread(proc.wait, 60)
    elapsed = time.monotonic() - started
    if transport is not None:
        await page.disconnect()
    return elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    for transport in (None, "websocket"):
        times = [await stop_time_s(transport) for _ in range(args.runs)]
        shown = ", ".join(f"{t:.2f}" for t in times)
        print(f"page over {transport or 'nothing':9}: stopped in {shown} s (max {max(times):.2f})")


if __name__ == "__main__":
    asyncio.run(main())
