"""A long copy is written out behind itself and leaves the page cache as it goes."""

from __future__ import annotations

import ctypes
import mmap
import os
from pathlib import Path

import pytest
from conftest import media_bytes

from cacherr.files.copy import CopyControl, copy_to_temp
from cacherr.files.writeback import WriteBehind

CHUNK = 2 * 2**20
CHUNKS = 16  # 32 MiB: a long copy


def resident_bytes(path: Path, start: int, end: int) -> int:
    """How much of bytes [start, end) of `path` the page cache holds (mincore(2))."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mincore.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p)
    page = mmap.PAGESIZE
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_COPY) as m:
        pages = (len(m) + page - 1) // page
        vector = (ctypes.c_ubyte * pages)()
        anchor = ctypes.c_char.from_buffer(m)
        try:
            if libc.mincore(ctypes.addressof(anchor), len(m), vector) != 0:
                raise OSError(ctypes.get_errno(), "mincore")
        finally:
            del anchor  # the map cannot close while a pointer into it lives
    return sum(page for i in range(start // page, end // page) if vector[i] & 1)


@pytest.fixture
def drops_pages(tmp_path: Path) -> None:
    """Skip where written pages cannot leave memory (a tmpfs holds them by design)."""
    probe = tmp_path / "probe"
    probe.write_bytes(b"\1" * CHUNK)
    with probe.open("rb") as handle:
        os.fsync(handle.fileno())
        os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
    if resident_bytes(probe, 0, CHUNK):
        pytest.skip("this file system keeps written pages in memory")
    probe.unlink()


def test_a_long_copy_leaves_what_it_wrote_out_of_memory_as_it_goes(
    tmp_path: Path, drops_pages: None
) -> None:
    """A 40 GB movie copied through the page cache left gigabytes of dirty pages for the
    kernel to flush at once. Now, when a copy reports a chunk, every chunk before the last
    two is on the disk and out of memory."""
    data = media_bytes(CHUNKS * CHUNK, 3)
    source = tmp_path / "source.mkv"
    source.write_bytes(data)
    temp = tmp_path / ".source.mkv.cacherr-tmp"
    seen: list[tuple[int, int]] = []

    def look(done: int, size: int) -> None:
        if done >= 4 * CHUNK:  # chunks before the one being written out are gone
            seen.append((done, resident_bytes(temp, 0, done - 2 * CHUNK)))

    copy_to_temp(source, temp, CopyControl(on_progress=look), chunk_bytes=CHUNK)

    assert [done for done, _ in seen] == [n * CHUNK for n in range(4, CHUNKS + 1)]
    assert [held for _, held in seen] == [0] * len(seen)
    assert temp.read_bytes() == data


def test_a_short_copy_in_small_chunks_is_left_to_its_fsync(
    tmp_path: Path, drops_pages: None
) -> None:
    """A 4 MiB episode copied in 256 KiB chunks (as a bandwidth limit makes them) is no long
    copy: its pages stay for the fsync it shares with the rest of its batch."""
    size = 4 * 2**20
    data = media_bytes(size, 4)
    source = tmp_path / "short.mkv"
    source.write_bytes(data)
    temp = tmp_path / ".short.mkv.cacherr-tmp"

    copy_to_temp(source, temp, CopyControl(), chunk_bytes=256 * 1024, sync=False)

    assert resident_bytes(temp, 0, size) == size
    assert temp.read_bytes() == data


def test_a_file_that_cannot_be_written_out_early_is_left_alone() -> None:
    """A pipe (as some file systems) refuses sync_file_range: nothing is raised, and the
    copy goes on through the page cache as before."""
    read, write = os.pipe()
    try:
        behind = WriteBehind(write)
        os.write(write, b"x" * 10)
        behind.wrote(0, 10)
        behind.wrote(10, 20)
    finally:
        os.close(read)
        os.close(write)
