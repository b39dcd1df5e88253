"""Waiting in tests without fixed sleeps: poll a condition until a deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def until(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Wait for `check()` to hold, polling every few milliseconds; fail at the deadline."""
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not met before the deadline"
        await asyncio.sleep(0.005)
