"""Waiting in tests without fixed sleeps: poll a condition until a deadline."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def until(
    check: Callable[[], T | Awaitable[T]], timeout_s: float = 10.0, step_s: float = 0.005
) -> T:
    """Wait for `check()` (plain or async) to give something true, polling every `step_s`;
    return it. Fail at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        assert time.monotonic() < deadline, f"condition not met within {timeout_s} s"
        await asyncio.sleep(step_s)
