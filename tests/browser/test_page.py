"""The page in a real browser against the real app: set-up, every view, a live copy, a saved
setting; each view's screenshot goes to docs/screenshots/ for the README."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest

from cacherr import keys
from cacherr.executor import Executor
from cacherr.files.paths import PathResolver
from tests.browser.conftest import Served, log_in, playwright_api, screenshot_path, seed

expect = playwright_api.expect

VIEWS = {
    "files": "#files-body tr",
    "users": "#users-body tr",
    "settings": "#settings-body form",
    "maintenance": "#simulation",
}


async def test_first_visit_then_every_view(page: Any, served: Served) -> None:
    await seed(served)
    await log_in(page, served)
    assert await page.locator("#auth").is_hidden()
    await page.locator("#activity li").first.wait_for()
    await page.locator("#chart svg").wait_for()
    await page.screenshot(path=screenshot_path("dashboard"))
    for view, ready in VIEWS.items():
        await page.click(f'#nav a[data-view="{view}"]')
        await page.locator(ready).first.wait_for(state="attached")
        if view == "settings":  # the mappings with their live resolve preview
            await page.click('#settings-tabs button[data-tab="paths"]')
            await page.fill("#resolve-input", "/data/tv/Heat (1995)/Heat (1995).mkv")
            await page.locator(".resolve", has_text="Mapping tv").wait_for()
        await page.wait_for_timeout(150)
        await page.screenshot(path=screenshot_path(view))
    await page.click('#nav a[data-view="files"]')
    await page.fill("#search", "heat")
    await expect(page.locator("#files-body tr")).to_have_count(1)
    await expect(page.locator("#files-body tr")).to_contain_text("on carol's watchlist")
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.click('#nav a[data-view="dashboard"]')
    await page.locator("#activity li").first.wait_for()
    await page.screenshot(path=screenshot_path("phone"))


async def test_a_saved_setting_lands_in_cacherr_json(page: Any, served: Served) -> None:
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
async def executor(served: Served) -> AsyncIterator[Executor]:
    """The app's operation queue; when this build does not wire one, the test's own."""
    wired = served.app.get(keys.EXECUTOR)
    if wired is not None:
        yield wired
        return
    store = served.store
    own = Executor(served.app[keys.DB], served.app[keys.BUS], lambda: store.current)
    await own.start()
    try:
        yield own
    finally:
        await own.close()


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


async def test_evict_a_file(page: Any, served: Served) -> None:
    routes = {(r.method, r.resource.canonical) for r in served.app.router.routes() if r.resource}
    if ("POST", "/api/files/evict") not in routes:
        pytest.skip("this build has no POST /api/files/evict yet (the reactor's)")
    await seed(served)
    await log_in(page, served)
    await page.click('#nav a[data-view="files"]')
    row = page.locator("#files-body tr", has_text="Heat (1995).mkv")
    await row.locator("button", has_text="Evict").click()
    await page.locator("#dialog button[value=ok]").click()
    await page.locator(".toast.ok").wait_for()
