"""A short crash campaign (10 SIGKILLs of the real daemon process); bench/ runs 200."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.crash_campaign import campaign


async def test_ten_kills_lose_nothing(tmp_path: Path) -> None:
    root = tmp_path / "campaign"
    report = await asyncio.to_thread(campaign, 10, root, seed=3, log=lambda _: None)
    assert report.kills == 10
    assert report.webhooks_sent > 0
    assert report.operations.get("cache/done", 0) > 0
    assert report.files > 40
    assert report.problems == [], "\n".join(report.lines())
