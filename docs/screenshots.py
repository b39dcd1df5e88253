"""The README's screenshots, taken from a run of `cacherr demo`.

    python docs/screenshots.py [--out docs/screenshots] [--timeout-s 300]

Starts the demo on a free port in a temporary folder, waits until `/api/operations` shows a
running copy and the usage history has a point above 0 B, then drives headless Chromium
(`/usr/bin/chromium`, via the playwright package) through the dashboard with that copy in
progress, the other views and a phone-sized dashboard, and saves one PNG per view.
The demo is stopped with SIGINT and its folder removed, whatever happens.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import ViewportSize, sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu"]
DESKTOP: ViewportSize = {"width": 1280, "height": 860}
PHONE: ViewportSize = {"width": 390, "height": 844}
RESOLVE = "/data/tv/The Expanse/Season 01/The Expanse - S01E01.mkv"
VIEWS = {
    "files": "#files-body tr",
    "users": "#users-body tr",
    "settings": "#settings-body form",
    "maintenance": "#simulation",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as answer:
        body = json.load(answer)
    return body.get("data", body)


def wait_for(what: str, check: Callable[[], bool], deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass  # the demo is still starting
        time.sleep(0.25)
    raise SystemExit(f"gave up waiting for {what}")


def copy_running(base: str) -> bool:
    active = get(base + "/api/operations")["active"]
    return any(op["state"] == "running" and op.get("bytes_done", 0) > 0 for op in active)


def usage_shown(base: str) -> bool:
    points = get(base + "/api/stats/history?range=24h")["points"]
    return any(p["used_bytes"] > 0 for p in points)


def shoot(base: str, out: Path, timeout_s: float) -> None:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport=DESKTOP)
        page.goto(base + "/")
        page.locator("#chart svg").wait_for(timeout=timeout_s * 1000)
        # A copy the page itself shows moving, a third to most of it done, near the top of
        # "Moving now" (running and queued copies are listed by id) so the picture shows it.
        ops = page.locator("#ops > li.op:nth-child(-n+3) .op-meta")
        moving = ops.filter(has_text=re.compile(r"^[3-8]\d% ·")).first
        moving.wait_for(timeout=timeout_s * 1000)
        page.locator("#activity li").first.wait_for()
        page.screenshot(path=out / "dashboard.png")
        for view, ready in VIEWS.items():
            page.click(f'#nav a[data-view="{view}"]')
            page.locator(ready).first.wait_for(state="attached")
            if view == "settings":  # the mappings, with the live "resolve this Plex path"
                page.click('#settings-tabs button[data-tab="paths"]')
                page.fill("#resolve-input", RESOLVE)
                page.locator(".resolve", has_text="Mapping").first.wait_for()
            page.wait_for_timeout(300)  # let the view's rows settle before the picture
            page.screenshot(path=out / f"{view}.png")
        page.set_viewport_size(PHONE)
        page.click('#nav a[data-view="dashboard"]')
        page.locator("#chart svg").wait_for()
        page.wait_for_timeout(300)
        page.screenshot(path=out / "phone.png")
        browser.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "screenshots")
    parser.add_argument("--timeout-s", type=float, default=300.0)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="cacherr-shots-") as tmp:
        cmd = [sys.executable, "-m", "cacherr", "demo", "--dir", f"{tmp}/demo", "--port"]
        demo = subprocess.Popen([*cmd, str(port), "--speed", "5"])
        try:
            deadline = time.monotonic() + args.timeout_s
            wait_for("the page", lambda: bool(get(base + "/api/health")), deadline)
            wait_for("a running copy", lambda: copy_running(base), deadline)
            wait_for("a usage point above 0 B", lambda: usage_shown(base), deadline)
            shoot(base, args.out, max(10.0, deadline - time.monotonic()))
        finally:
            demo.send_signal(signal.SIGINT)
            try:
                demo.wait(timeout=30)
            except subprocess.TimeoutExpired:
                demo.kill()
    for name in ("dashboard", *VIEWS, "phone"):
        print(args.out / f"{name}.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
