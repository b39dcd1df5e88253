"""Checking a copy against its source, and the fingerprint that tells a changed cache copy.

`size` compares lengths; `sample` also compares 16 blocks of 64 KiB spread over the file
(the first and last included); `full` compares a blake2b hash of every byte. The copy's
pages are dropped from the page cache first, so the check reads what reached the disk, not
what the copy left in memory.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path
from typing import Final

from cacherr.errors import CacherrError
from cacherr.files.copy import BUFFER_BYTES, new_hasher
from cacherr.files.model import VerifyHow

SAMPLE_BLOCKS: Final = 16
SAMPLE_BLOCK_BYTES: Final = 64 * 2**10
FINGERPRINT_PREFIX: Final = "s16:"


class VerificationFailed(CacherrError):
    """The copy differs from its source; it is discarded and the source left as it was."""

    status = 500
    code = "verification_failed"


def sample_offsets(size: int) -> list[int]:
    """Where the sampled blocks start: evenly spread, the first at 0, the last at the end."""
    if size <= SAMPLE_BLOCKS * SAMPLE_BLOCK_BYTES:
        return list(range(0, size, SAMPLE_BLOCK_BYTES))
    span = size - SAMPLE_BLOCK_BYTES
    return [span * i // (SAMPLE_BLOCKS - 1) for i in range(SAMPLE_BLOCKS)]


def _read_samples(path: Path, size: int, *, drop_cache: bool) -> list[bytes]:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if drop_cache:
            drop_page_cache(fd)
        return [os.pread(fd, SAMPLE_BLOCK_BYTES, offset) for offset in sample_offsets(size)]
    finally:
        os.close(fd)


def drop_page_cache(fd: int) -> None:
    """Ask the kernel to forget the file's (clean) cached pages, so reads hit the disk."""
    with contextlib.suppress(OSError):  # advice only; some file systems do not take it
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)


def _fingerprint_of(size: int, blocks: list[bytes]) -> str:
    hasher = hashlib.blake2b(size.to_bytes(8, "little"), digest_size=16)
    for block in blocks:
        hasher.update(block)
    return FINGERPRINT_PREFIX + hasher.hexdigest()


def fingerprint(path: Path) -> str:
    """A cheap identity of a file's content: its size and sampled blocks, hashed."""
    size = os.stat(path).st_size
    return _fingerprint_of(size, _read_samples(path, size, drop_cache=False))


def full_digest(path: Path, *, drop_cache: bool = True) -> str:
    """blake2b of every byte of `path`."""
    hasher = new_hasher()
    with open(path, "rb", buffering=0) as handle:
        if drop_cache:
            drop_page_cache(handle.fileno())
        buffer = memoryview(bytearray(BUFFER_BYTES))
        while n := handle.readinto(buffer):
            hasher.update(buffer[:n])
    return hasher.hexdigest()


def verify_copy(source: Path, copy: Path, how: VerifyHow, source_digest: str | None = None) -> str:
    """Check `copy` against `source` as `how` says; returns the copy's fingerprint.

    Blocking. `source_digest` is the hash taken while copying (`full`), else it is computed.
    Raises `VerificationFailed` with what differs.
    """
    size, copy_size = os.stat(source).st_size, os.stat(copy).st_size
    if size != copy_size:
        raise VerificationFailed(f"{copy} has {copy_size} bytes, its source {source} {size}")
    copy_blocks = _read_samples(copy, size, drop_cache=True)
    if how in ("sample", "full"):
        source_blocks = _read_samples(source, size, drop_cache=False)
        pairs = zip(copy_blocks, source_blocks, strict=True)
        for offset, (mine, theirs) in zip(sample_offsets(size), pairs, strict=True):
            if mine != theirs:
                raise VerificationFailed(f"{copy} differs from {source} near byte {offset}")
    if how == "full":
        expected = source_digest or full_digest(source, drop_cache=False)
        actual = full_digest(copy)
        if expected != actual:
            raise VerificationFailed(f"{copy} does not hash like {source}")
    return _fingerprint_of(size, copy_blocks)
