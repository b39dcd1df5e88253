"""Cached files: a subtitle cached beside its episode is shown under it, not as a file of its
own (each is copied by its own operation, as a playback reaction does)."""

from __future__ import annotations

import os
from typing import Any

from cacherr import keys
from cacherr.files.paths import PathResolver
from tests.browser.conftest import SESSION_LOOP, Served, log_in, playwright_api

pytestmark = SESSION_LOOP  # the shared browser's event loop

expect = playwright_api.expect

EPISODE = "/data/tv/Show/Season 01/Show - S01E01.mkv"
SUBTITLE = "/data/tv/Show/Season 01/Show - S01E01.en.forced.srt"
LONELY = "/data/tv/Other/Other - S01E01.en.srt"  # its media is not on the cache


async def test_a_subtitle_is_shown_under_its_episode(page: Any, served: Served) -> None:
    resolver = PathResolver(served.store.current.paths.mappings)
    executor = served.app[keys.EXECUTOR]
    for plex_path, size in ((EPISODE, 2 * 2**20), (SUBTITLE, 40_000), (LONELY, 30_000)):
        location = resolver.for_move(plex_path)
        location.array_path.parent.mkdir(parents=True, exist_ok=True)
        location.array_path.write_bytes(os.urandom(size))
        outcome = await executor.submit("cache", location, reason="a test").result
        assert outcome.result == "done", outcome
    await log_in(page, served)
    await page.click('#nav a[data-view="files"]')
    rows = page.locator("#files-body tr")
    await expect(rows).to_have_count(2)
    episode = rows.filter(has_text="Show - S01E01.mkv")
    await expect(episode.locator("ul.sidecars li")).to_have_text(
        "↳ Show - S01E01.en.forced.srt · 40.0 KB"
    )
    await expect(episode.locator("td.num").first).to_have_text("2.1 MB")
    # A subtitle whose media file is not cached stays a row of its own.
    await expect(rows.filter(has_text="Other - S01E01.en.srt")).to_have_count(1)
    await expect(page.locator("#files-count")).to_have_text("1–2 of 2")
    # Searching for the subtitle finds its episode.
    await page.fill("#search", "forced")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("Show - S01E01.mkv")
