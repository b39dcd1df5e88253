"""Bulk work (copies, hashes of big files) runs on its own thread at a lower CPU priority;
a small file's runs beside the other blocking work."""

from __future__ import annotations

import os
import threading

import pytest

from cacherr.files.model import LONG_COPY_BYTES
from cacherr.files.offload import BULK_NICE, run_blocking, run_bulk


def _own_priority() -> tuple[int, str]:
    return os.getpriority(
        os.PRIO_PROCESS, threading.get_native_id()
    ), threading.current_thread().name


async def test_bulk_work_runs_nicer_than_the_loop() -> None:
    base = os.getpriority(os.PRIO_PROCESS, 0)
    if base > BULK_NICE:
        pytest.skip(f"this process already runs at nice {base}")
    nice, name = await run_bulk(threading.Event(), _own_priority, size_bytes=LONG_COPY_BYTES + 1)
    assert (nice, name) == (BULK_NICE, "cacherr-bulk")
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == base
    # Ordinary blocking work keeps the shared pool's normal priority.
    nice, _ = await run_blocking(threading.Event(), _own_priority)
    assert nice == base


async def test_a_small_files_work_keeps_the_normal_priority() -> None:
    """A 1 MiB episode's copy is done in a moment: at a lower priority it only waited
    longer for a core while a burst of plays kept both busy."""
    base = os.getpriority(os.PRIO_PROCESS, 0)
    nice, name = await run_bulk(threading.Event(), _own_priority, size_bytes=2**20)
    assert nice == base and name != "cacherr-bulk"


async def test_bulk_errors_reach_the_caller() -> None:
    def fail() -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        await run_bulk(threading.Event(), fail, size_bytes=2**30)
