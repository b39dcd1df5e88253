"""Running the protocol's blocking file work on a thread, safely under cancellation."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from cacherr.files.model import LONG_COPY_BYTES

T = TypeVar("T")

# Bulk copying and hashing run this much "nicer" than the event loop: on a small box a few
# copies in the kernel would otherwise take every core and the page, webhooks and API wait.
BULK_NICE = 10


async def run_blocking(cancel: threading.Event, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
    """`fn(*args, **kw)` on a worker thread; the event loop stays free.

    A thread cannot be stopped from outside. If the awaiting task is cancelled, `cancel` is
    set (the copy loop checks it between chunks) and the thread is waited for before the
    `CancelledError` propagates, so the caller's clean-up finds the files at rest rather
    than under a copy still writing.
    """
    task = asyncio.ensure_future(asyncio.to_thread(functools.partial(fn, *args, **kw)))
    return await _settle(cancel, task)


async def run_bulk(
    cancel: threading.Event, fn: Callable[..., T], *args: Any, size_bytes: int, **kw: Any
) -> T:
    """Like `run_blocking`, for long copies and hashes of a file of `size_bytes`: on a
    thread of its own whose CPU priority is lowered (`BULK_NICE`), so the event loop keeps
    answering while it runs. A shorter one's (`LONG_COPY_BYTES`) goes as `run_blocking`: it
    is done in a moment, and at the lower priority it only waited longer for a core (in a
    burst of plays, a 1 MiB episode's copy took 11 ms there against 1-2 ms beside the rest)."""
    if size_bytes <= LONG_COPY_BYTES:
        return await run_blocking(cancel, fn, *args, **kw)
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def deliver(outcome: Callable[[], None]) -> None:
        if not done.done():
            outcome()

    def work() -> None:
        with contextlib.suppress(OSError):  # not permitted somewhere: run at normal priority
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BULK_NICE)
        try:
            result = fn(*args, **kw)
        except BaseException as exc:
            loop.call_soon_threadsafe(deliver, functools.partial(done.set_exception, exc))
        else:
            loop.call_soon_threadsafe(deliver, functools.partial(done.set_result, result))

    threading.Thread(target=work, name="cacherr-bulk", daemon=True).start()
    return await _settle(cancel, done)


async def _settle(cancel: threading.Event, task: asyncio.Future[T]) -> T:
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
