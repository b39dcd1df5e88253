"""The usage chart has a point from the start and a new one right after each change, so a
copy shows on it at once (not at the next five-minute sample)."""

from __future__ import annotations

import os
from typing import Any

from cacherr import keys
from cacherr.files.paths import PathResolver
from tests.browser.conftest import SESSION_LOOP, Served, log_in, playwright_api

pytestmark = SESSION_LOOP  # the shared browser's event loop

expect = playwright_api.expect


async def test_the_chart_has_a_point_at_start_and_after_a_copy(page: Any, served: Served) -> None:
    episode = served.array / "Show" / "Episode.mkv"
    episode.parent.mkdir(parents=True)
    episode.write_bytes(os.urandom(3 * 2**20))
    await log_in(page, served)
    chart = page.locator("#chart svg")
    await expect(chart).to_be_visible()  # the point taken at start
    await expect(chart.locator("text.label").last).to_have_text("0 B")
    location = PathResolver(served.store.current.paths.mappings).for_move(
        "/data/tv/Show/Episode.mkv"
    )
    outcome = await served.app[keys.EXECUTOR].submit("cache", location, reason="a test").result
    assert outcome.result == "done", outcome
    await expect(chart.locator("text.label").last).to_have_text("3.1 MB", timeout=15_000)
