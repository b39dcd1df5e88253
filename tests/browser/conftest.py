"""The real app on a real port, and Debian's chromium driven by Playwright (async API, so the
server and the browser share the event loop).

One chromium serves the whole session (starting Playwright's driver and the browser took
about 2 s a test); each test gets its own browser context, so no cookie, storage or page
carries over. The page tests therefore run in the session's event loop (`SESSION_LOOP`, each
module's `pytestmark`), and so do the fixtures here."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web

from cacherr import keys
from cacherr.app import create_app
from cacherr.config import ConfigStore
from cacherr.db import Database
from cacherr.security import setup_code

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "correct horse battery staple"
SESSION_LOOP = pytest.mark.asyncio(loop_scope="session")

if not CHROMIUM.exists():
    pytest.skip("the page tests need Debian's /usr/bin/chromium", allow_module_level=True)
playwright_api = pytest.importorskip("playwright.async_api", reason="needs the playwright package")


@dataclass
class Served:
    """The running app: its address, the app itself and its folders."""

    url: str
    app: web.Application
    store: ConfigStore
    array: Path
    cache: Path


@pytest.fixture(autouse=True, scope="session")
def docs_screenshots_untouched() -> Iterator[None]:
    """The README's screenshots come from the demo (docs/screenshots.py): a test run that
    rewrote them would leave the repository changed, so the page tests end by checking."""
    shots = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

    def contents() -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in sorted(shots.glob("*.png"))}

    before = contents()
    yield
    assert contents() == before, "a page test wrote into docs/screenshots/"


@pytest_asyncio.fixture(loop_scope="session")
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    array, cache = tmp_path / "array" / "tv", tmp_path / "cache" / "tv"
    array.mkdir(parents=True)
    cache.mkdir(parents=True)
    store = ConfigStore.open(tmp_path / "config")
    store.save(
        {
            "paths": {
                "mappings": [
                    {"name": "tv", "plex": "/data/tv", "array": str(array), "cache": str(cache)}
                ]
            },
            "cache": {"limit": "100%", "min_free": "0B", "verify": "size"},
            "sweep": {"on_start": False},
        }
    )
    app = create_app(store)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield Served(f"http://127.0.0.1:{port}", app, store, array, cache)
    finally:
        await runner.cleanup()


@pytest.fixture
def expected_statuses() -> set[int]:
    """HTTP statuses a test provokes on purpose (Chromium logs each as a console error)."""
    return set()


def _unexpected(message: Any, expected: set[int]) -> bool:
    text = message.text
    if text.startswith("Failed to load resource: the server responded with a status of "):
        status = int(text.split("status of ", 1)[1].split()[0])
        return status not in expected
    return True


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Any]:
    """Chromium, started once for the session."""
    async with playwright_api.async_playwright() as pw:
        running = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield running
        finally:
            await running.close()


@pytest_asyncio.fixture(loop_scope="session")
async def page(browser: Any, served: Served, expected_statuses: set[int]) -> AsyncIterator[Any]:
    """A fresh chromium page (1280×800) in a context of its own that fails the test on any
    script or console error."""
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    tab = await context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on(
        "console",
        lambda msg: (
            errors.append(f"console: {msg.text}")
            if msg.type == "error" and _unexpected(msg, expected_statuses)
            else None
        ),
    )
    try:
        yield tab
    finally:
        await context.close()
    assert errors == [], f"errors on the page: {errors}"


async def submit_setup(page: Any, served: Served, password: str) -> None:
    """Fill the first visit's set-up form (with the code the log prints) and send it."""
    form = page.locator("#auth-form")
    code = setup_code.read(served.app[keys.CONFIG].config_dir)  # as printed in the log
    await form.locator("[name=code]").fill(code or "")
    await form.locator("[name=username]").fill("admin")
    await form.locator("[name=password]").fill(password)
    await form.locator("[name=confirm]").fill(password)
    await form.locator("button[type=submit]").click()


async def log_in(page: Any, served: Served) -> None:
    """The first visit: create the login through the set-up form."""
    await page.goto(served.url + "/")
    await submit_setup(page, served, PASSWORD)
    await page.locator("#card-usage .value").filter(has_not_text="…").wait_for()


async def seed(served: Served) -> None:
    """Users, cached files (with their claims) and some activity, for the screenshots."""
    db: Database = served.app[keys.DB]
    now = time.time()
    for uid, name, kind in (("1", "alice", "main"), ("7", "bob", "home"), ("9", "carol", "shared")):
        await db.execute(
            "INSERT INTO users (id, username, title, kind, updated_at, last_active_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (uid, name, name.title(), kind, now, now - 3600),
        )
    episodes = [(f"The Expanse/Season 02/The Expanse - S02E0{n}.mkv", n) for n in range(1, 5)]
    for rel, n in [*episodes, ("Heat (1995)/Heat (1995).mkv", 9)]:
        size = 1_500_000_000 + n * 97_000_000
        await db.execute(
            "INSERT INTO managed_files (mapping, rel_path, plex_path, rating_key, state,"
            " size_bytes, mtime_ns, cached_at) VALUES ('tv', ?, ?, ?, 'cached', ?, 0, ?)",
            (rel, f"/data/tv/{rel}", str(1000 + n), size, now - n * 1800),
        )
        user, source, reason = (
            ("1", "next_up", f"next episode (S02E0{n}) for alice, playing S02E0{n - 1}")
            if n < 9
            else ("9", "watchlist", "on carol's watchlist")
        )
        await db.execute(
            "INSERT INTO claims (plex_path, source, user_id, priority, reason, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (f"/data/tv/{rel}", source, user, 670 - n * 10, reason, now - 600),
        )
    for i in range(48):
        await db.execute(
            "INSERT OR REPLACE INTO usage_history (ts, used_bytes, limit_bytes, files)"
            " VALUES (?, ?, ?, ?)",
            (int(now - (48 - i) * 1800), int(2e9 + 6e9 * (i / 48) ** 1.5), int(50e9), i // 8),
        )
    for msg, level in (("Cached: /data/tv/The Expanse/Season 02/The Expanse - S02E01.mkv", "info"),
                       ("Playing — alice: The Expanse S02E01", "info"),
                       ("Plex is connected", "info")):  # fmt: skip
        await db.execute(
            "INSERT INTO activity (ts, level, type, message) VALUES (?, ?, 'seed', ?)",
            (now - 120, level, msg),
        )
    await served.app[keys.USAGE].sample()  # a real point now, from the seeded files


def screenshot_path(folder: Path, name: str) -> str:
    """Where a test keeps a view's screenshot: under its own tmp_path, never in the repository
    (docs/screenshots/ comes from the demo, by docs/screenshots.py)."""
    folder.mkdir(parents=True, exist_ok=True)
    return os.fspath(folder / f"{name}.png")
