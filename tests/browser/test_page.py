"""The page in a real browser against the real app: set-up, every view, a live copy, a saved
setting; each view's screenshot is kept under the test's tmp_path (the README's come from the
demo, by docs/screenshots.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from cacherr import keys
from cacherr.executor import Executor
from cacherr.files.paths import PathResolver
from tests.browser.conftest import (
    SESSION_LOOP,
    Served,
    log_in,
    playwright_api,
    screenshot_path,
    seed,
)

pytestmark = SESSION_LOOP  # the shared browser's event loop

expect = playwright_api.expect

VIEWS = {
    "files": "#files-body tr",
    "users": "#users-body tr",
    "settings": "#settings-body form",
    "maintenance": "#simulation",
}


async def test_first_visit_then_every_view(page: Any, served: Served, tmp_path: Path) -> None:
    shots = tmp_path / "screenshots"
    await seed(served)
    await log_in(page, served)
    assert await page.locator("#auth").is_hidden()
    await page.locator("#activity li").first.wait_for()
    await page.locator("#chart svg").wait_for()
    await page.screenshot(path=screenshot_path(shots, "dashboard"))
    for view, ready in VIEWS.items():
        await page.click(f'#nav a[data-view="{view}"]')
        await page.locator(ready).first.wait_for(state="attached")
        if view == "settings":  # the mappings with their live resolve preview
            await page.click('#settings-tabs button[data-tab="paths"]')
            await page.fill("#resolve-input", "/data/tv/Heat (1995)/Heat (1995).mkv")
            await page.locator(".resolve", has_text="Mapping tv").wait_for()
        await page.wait_for_timeout(150)
        await page.screenshot(path=screenshot_path(shots, view))
    await page.click('#nav a[data-view="files"]')
    await page.fill("#search", "heat")
    await expect(page.locator("#files-body tr")).to_have_count(1)
    await expect(page.locator("#files-body tr")).to_contain_text("on carol's watchlist")
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.click('#nav a[data-view="dashboard"]')
    await page.locator("#activity li").first.wait_for()
    await page.screenshot(path=screenshot_path(shots, "phone"))


async def test_the_users_view_says_where_each_on_deck_comes_from(page: Any, served: Served) -> None:
    # Invited users get no server token since 2026-03 (JellyPlex-Watched #341): without
    # plex.database_path a shared user's on-deck has no source, and the page says the fix.
    await seed(served)
    await log_in(page, served)
    await page.click('#nav a[data-view="users"]')
    carol = page.locator('#users-body tr[data-user="carol"]')
    await expect(carol).to_contain_text("none")
    await expect(carol).to_contain_text("plex.database_path")
    await expect(page.locator('#users-body tr[data-user="bob"]')).to_contain_text("Plex (token)")


async def test_a_saved_setting_lands_in_cacherr_json(
    page: Any, served: Served, expected_statuses: set[int]
) -> None:
    expected_statuses.add(400)  # the refused save below
    await log_in(page, served)
    await page.click('#nav a[data-view="settings"]')
    await page.click('#settings-tabs button[data-tab="cache"]')
    await page.fill('[name="cache.next_episodes"]', "9")
    await page.click("#settings-body form button[type=submit]")
    await page.locator(".toast.ok", has_text="Settings saved").wait_for()
    assert json.loads(served.store.path.read_text())["cache"]["next_episodes"] == 9
    await page.fill('[name="cache.evict_target"]', "99")
    await page.click("#settings-body form button[type=submit]")
    await page.locator(".toast.error").wait_for()
    await expect(page.locator(".field-error").filter(has_text="evict_target")).to_have_count(1)
    assert json.loads(served.store.path.read_text())["cache"]["evict_target"] == 85


@pytest.fixture
def executor(served: Served) -> Executor:
    """The app's own operation queue."""
    return served.app[keys.EXECUTOR]


RECORD = """() => {
  window.__progress = [];
  new MutationObserver(() => {
    for (const bar of document.querySelectorAll('#ops [role=progressbar]')) {
      window.__progress.push(Number(bar.getAttribute('aria-valuenow')));
    }
  }).observe(document.getElementById('ops'), {subtree: true, childList: true, attributes: true});
}"""


async def test_a_live_copy_moves_its_bar_and_the_file_appears(
    page: Any, served: Served, executor: Executor
) -> None:
    size = 200 * 2**20
    big = served.array / "Show" / "Big Episode.mkv"
    big.parent.mkdir(parents=True)
    with big.open("wb") as out:
        block = os.urandom(2**20)
        for _ in range(size // len(block)):
            out.write(block)
    await log_in(page, served)
    await page.evaluate(RECORD)
    location = PathResolver(served.store.current.paths.mappings).for_move(
        "/data/tv/Show/Big Episode.mkv"
    )
    op = executor.submit("cache", location, reason="a test copy")
    outcome = await op.result
    assert outcome.result == "done", outcome
    await page.locator("#ops li", has_text="Nothing is moving").wait_for()
    seen = await page.evaluate("window.__progress")
    assert seen, "no progress bar was shown"
    assert max(seen) == 100
    assert len(set(seen)) >= 2, f"the bar did not move: {seen}"
    assert (served.cache / "Show" / "Big Episode.mkv").stat().st_size == size
    await page.click('#nav a[data-view="files"]')
    await page.locator("#files-body tr", has_text="Big Episode.mkv").wait_for()
    await page.click('#nav a[data-view="dashboard"]')
    await page.locator("#activity li", has_text="Cached: /data/tv/Show/Big Episode.mkv").wait_for()


async def test_evict_a_file(page: Any, served: Served, executor: Executor) -> None:
    episode = served.array / "Show" / "Evict Me.mkv"
    episode.parent.mkdir(parents=True)
    episode.write_bytes(os.urandom(3 * 2**20))
    location = PathResolver(served.store.current.paths.mappings).for_move(
        "/data/tv/Show/Evict Me.mkv"
    )
    outcome = await executor.submit("cache", location, reason="a test copy").result
    assert outcome.result == "done", outcome
    await served.app[keys.CACHE_ENGINE].run_until_idle()
    assert not episode.exists() and location.cache_path.exists()
    await log_in(page, served)
    await page.click('#nav a[data-view="files"]')
    row = page.locator("#files-body tr", has_text="Evict Me.mkv")
    await row.locator("button", has_text="Evict").click()
    await page.locator("#dialog button[value=ok]").click()
    await page.locator(".toast.ok").wait_for()
    await executor.run_until_idle()
    await served.app[keys.CACHE_ENGINE].run_until_idle()
    assert episode.exists() and not location.cache_path.exists()
    await page.locator("#files-body tr", has_text="Evict Me.mkv").wait_for(state="detached")
