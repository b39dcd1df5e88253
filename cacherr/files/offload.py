"""Running the protocol's blocking file work on a thread, safely under cancellation."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


async def run_blocking(cancel: threading.Event, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
    """`fn(*args, **kw)` on a worker thread; the event loop stays free.

    A thread cannot be stopped from outside. If the awaiting task is cancelled, `cancel` is
    set (the copy loop checks it between chunks) and the thread is waited for before the
    `CancelledError` propagates, so the caller's clean-up finds the files at rest rather
    than under a copy still writing.
    """
    task = asyncio.ensure_future(asyncio.to_thread(functools.partial(fn, *args, **kw)))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        cancel.set()
        while not task.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait([task])
        if not task.cancelled():
            task.exception()  # retrieved: the cancellation is what the caller reports
        raise
