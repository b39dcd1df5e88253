"""Checking a copy against its source, and the fingerprint that tells a changed cache copy.

`size` compares lengths; `sample` also compares 16 blocks of 64 KiB spread over the file
(the first and last included); `full` compares a SHA-256 of every byte of both, hashed on
two threads at once (hashlib releases the GIL). SHA-256 because OpenSSL runs it on the
CPU's SHA extensions (most x86 since 2017-2019, ARMv8), about twice blake2b's speed there.
The copy's pages are dropped from the page cache first, so the check reads what reached
the disk, not what the copy left in memory.

The fingerprint recorded with a copy (to tell, at its restore, a cache copy changed since)
is its size and sampled blocks in XXH3-128 (`x16:`): not a defence against tampering, a
check for accidents, and ~75 times blake2b's speed on any CPU (a burst of small episodes
spent half its verifying CPU in blake2b). A fingerprint recorded by an earlier version
(`s16:`, blake2b-128) is checked the way it was made.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final

from xxhash import xxh3_128

from cacherr.errors import CacherrError
from cacherr.files.copy import BUFFER_BYTES
from cacherr.files.model import VerifyHow

SAMPLE_BLOCKS: Final = 16
SAMPLE_BLOCK_BYTES: Final = 64 * 2**10
FINGERPRINT_PREFIX: Final = "x16:"
BLAKE2_PREFIX: Final = "s16:"


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
    """The sampled blocks, in order; a file of at most 16 blocks is every block, and is
    read (and returned) as one: the blocks side by side, in one read from the disk."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if size <= SAMPLE_BLOCKS * SAMPLE_BLOCK_BYTES:
            if drop_cache:
                drop_page_cache(fd)
            # Not cut into blocks: the hash of the pieces is the hash of the whole, and one
            # comparison is a memcmp where cutting copied every byte (a burst of small
            # episodes spent more time there than on the disk).
            return [os.pread(fd, size, 0)] if size else []
        blocks = []
        for offset in sample_offsets(size):
            if drop_cache:  # only the sampled ranges: dropping a whole big file costs more
                drop_page_cache(fd, offset, SAMPLE_BLOCK_BYTES)
            blocks.append(os.pread(fd, SAMPLE_BLOCK_BYTES, offset))
        return blocks
    finally:
        os.close(fd)


def _first_difference(size: int, mine: list[bytes], theirs: list[bytes]) -> int | None:
    """The offset of the first sampled block that differs (None: none does)."""
    if mine == theirs:
        return None
    offsets = sample_offsets(size)
    if size <= SAMPLE_BLOCKS * SAMPLE_BLOCK_BYTES:  # read whole: cut only to say where
        mine, theirs = ([w[o : o + SAMPLE_BLOCK_BYTES] for o in offsets] for w in (*mine, *theirs))
    return next((o for o, a, b in zip(offsets, mine, theirs, strict=False) if a != b), 0)


def drop_page_cache(fd: int, offset: int = 0, length: int = 0) -> None:
    """Ask the kernel to forget the file's clean cached pages (all of them when `length` is
    0), so reads hit the disk."""
    with contextlib.suppress(OSError):  # advice only; some file systems do not take it
        os.posix_fadvise(fd, offset, length, os.POSIX_FADV_DONTNEED)


def _fingerprint_of(size: int, blocks: list[bytes], *, prefix: str = FINGERPRINT_PREFIX) -> str:
    head = size.to_bytes(8, "little")
    hasher = hashlib.blake2b(head, digest_size=16) if prefix == BLAKE2_PREFIX else xxh3_128(head)
    for block in blocks:
        hasher.update(block)
    return prefix + hasher.hexdigest()


def fingerprint(path: Path, *, like: str | None = None) -> str:
    """A cheap identity of a file's content: its size and sampled blocks, hashed; the way
    fingerprint `like` was made when given (one recorded by an earlier version)."""
    size = os.stat(path).st_size
    old = like is not None and like.startswith(BLAKE2_PREFIX)
    blocks = _read_samples(path, size, drop_cache=False)
    return _fingerprint_of(size, blocks, prefix=BLAKE2_PREFIX if old else FINGERPRINT_PREFIX)


def full_digest(path: Path, *, drop_cache: bool = True) -> str:
    """SHA-256 of every byte of `path`."""
    hasher = hashlib.sha256()
    with open(path, "rb", buffering=0) as handle:
        if drop_cache:
            drop_page_cache(handle.fileno())
        buffer = memoryview(bytearray(BUFFER_BYTES))
        while n := handle.readinto(buffer):
            hasher.update(buffer[:n])
    return hasher.hexdigest()


def verify_copy(source: Path, copy: Path, how: VerifyHow) -> str:
    """Check `copy` against `source` as `how` says; returns the copy's fingerprint.

    Blocking. Raises `VerificationFailed` with what differs.
    """
    size, copy_size = os.stat(source).st_size, os.stat(copy).st_size
    if size != copy_size:
        raise VerificationFailed(f"{copy} has {copy_size} bytes, its source {source} {size}")
    copy_blocks = _read_samples(copy, size, drop_cache=True)
    if how in ("sample", "full"):
        source_blocks = _read_samples(source, size, drop_cache=False)
        offset = _first_difference(size, copy_blocks, source_blocks)
        if offset is not None:
            raise VerificationFailed(f"{copy} differs from {source} near byte {offset}")
    if how == "full":
        with ThreadPoolExecutor(2, thread_name_prefix="cacherr-hash") as pool:
            expected = pool.submit(full_digest, source, drop_cache=False)
            actual = pool.submit(full_digest, copy)
            if expected.result() != actual.result():
                raise VerificationFailed(f"{copy} does not hash like {source}")
    return _fingerprint_of(size, copy_blocks)
