"""A short crash campaign (10 SIGKILLs of the real daemon process) in each mode; bench/ runs
200 of each."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bench.crash_campaign import campaign


@pytest.mark.parametrize("mode", ["union", "symlink"])
async def test_ten_kills_lose_nothing(tmp_path: Path, mode: str) -> None:
    root = tmp_path / "campaign"
    report = await asyncio.to_thread(campaign, 10, root, seed=3, mode=mode, log=lambda _: None)
    assert report.kills == 10
    assert report.webhooks_sent > 0
    assert report.operations.get("cache/done", 0) > 0
    assert report.files > 40
    assert report.problems == [], "\n".join(report.lines())
