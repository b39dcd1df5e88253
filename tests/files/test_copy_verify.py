"""The copy loop and the verification, on real files."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import xxhash
from conftest import media_bytes

from cacherr.files.copy import CopyCancelled, CopyControl, SourceChanged, copy_to_temp
from cacherr.files.verify import (
    SAMPLE_BLOCK_BYTES,
    VerificationFailed,
    fingerprint,
    full_digest,
    sample_offsets,
    verify_copy,
)

CHUNK = 64 * 1024
ATIME_NS, MTIME_NS = 1_500_000_000_000_000_001, 1_500_000_000_000_000_002


def make_source(tmp_path: Path, size: int, seed: int = 1) -> tuple[Path, bytes]:
    data = media_bytes(size, seed)
    source = tmp_path / "source.mkv"
    source.write_bytes(data)
    os.chmod(source, 0o604)
    os.utime(source, ns=(ATIME_NS, MTIME_NS))
    return source, data


def flip(path: Path, offset: int) -> None:
    with open(path, "r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)[0]
        handle.seek(offset)
        handle.write(bytes([byte ^ 0x01]))


def test_samples_cover_the_first_and_last_block_and_small_files_whole() -> None:
    big = 10 * 2**20
    offsets = sample_offsets(big)
    assert len(offsets) == 16
    assert (offsets[0], offsets[-1]) == (0, big - SAMPLE_BLOCK_BYTES)
    assert offsets == sorted(set(offsets))
    assert sample_offsets(100_000) == [0, 65536]
    assert sample_offsets(0) == []


@pytest.fixture(params=["same file system", "across file systems"])
def target_dir(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """Where copies go: beside the source (the kernel copies), or on a tmpfs, where
    copy_file_range answers EXDEV and the buffered loop copies."""
    if request.param == "same file system":
        yield tmp_path
        return
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.statvfs(shm).f_bavail * os.statvfs(shm).f_frsize < 2**26:
        pytest.skip("no tmpfs at /dev/shm to copy across file systems")
    folder = Path(tempfile.mkdtemp(dir=shm))
    yield folder
    shutil.rmtree(folder)


def test_copy_keeps_bytes_mode_and_times_and_reports_each_chunk(
    tmp_path: Path, target_dir: Path
) -> None:
    source, data = make_source(tmp_path, 5 * CHUNK + 3)
    temp = target_dir / ".source.mkv.1.cacherr-tmp"
    reports: list[tuple[int, int]] = []
    control = CopyControl(on_progress=lambda done, size: reports.append((done, size)))

    result = copy_to_temp(source, temp, control, chunk_bytes=CHUNK)

    st = os.stat(temp)  # before reading it, which may update its atime
    assert temp.read_bytes() == data
    assert stat.S_IMODE(st.st_mode) == 0o604
    assert (st.st_atime_ns, st.st_mtime_ns) == (
        1_500_000_000_000_000_001,
        1_500_000_000_000_000_002,
    )
    assert (result.size, result.mtime_ns) == (len(data), st.st_mtime_ns)
    assert reports[-1] == (len(data), len(data))
    assert len(reports) == 6


def test_copy_never_overwrites_an_existing_temp(tmp_path: Path) -> None:
    source, _ = make_source(tmp_path, 1000)
    temp = tmp_path / "taken"
    temp.write_bytes(b"mine")

    with pytest.raises(FileExistsError):
        copy_to_temp(source, temp, CopyControl())

    assert temp.read_bytes() == b"mine"


def test_cancel_between_chunks_removes_the_temp(tmp_path: Path) -> None:
    source, data = make_source(tmp_path, 8 * CHUNK)
    temp = tmp_path / "temp"
    control = CopyControl()
    control.on_progress = lambda done, size: control.cancel.set() if done >= 3 * CHUNK else None

    with pytest.raises(CopyCancelled):
        copy_to_temp(source, temp, control, chunk_bytes=CHUNK)

    assert not temp.exists()
    assert source.read_bytes() == data


def test_a_source_written_during_the_copy_is_refused(tmp_path: Path, target_dir: Path) -> None:
    source, _ = make_source(tmp_path, 4 * CHUNK)
    temp = target_dir / "temp"

    def grow(done: int, size: int) -> None:
        if done == CHUNK:
            with open(source, "ab") as handle:
                handle.write(b"more")

    with pytest.raises(SourceChanged):
        copy_to_temp(source, temp, CopyControl(on_progress=grow), chunk_bytes=CHUNK)

    assert not temp.exists()


def test_a_symlinked_source_is_refused(tmp_path: Path) -> None:
    source, _ = make_source(tmp_path, 10)
    link = tmp_path / "link"
    link.symlink_to(source)

    with pytest.raises(OSError, match="Too many levels of symbolic links"):
        copy_to_temp(link, tmp_path / "temp", CopyControl())


def copies(tmp_path: Path, size: int) -> tuple[Path, Path]:
    source, data = make_source(tmp_path, size)
    copy = tmp_path / "copy"
    copy.write_bytes(data)
    return source, copy


@pytest.mark.parametrize("how", ["size", "sample", "full"])
def test_an_exact_copy_passes_and_yields_its_fingerprint(tmp_path: Path, how: str) -> None:
    source, copy = copies(tmp_path, 3 * 2**20 + 5)

    assert verify_copy(source, copy, how) == fingerprint(copy)  # type: ignore[arg-type]


@pytest.mark.parametrize("how", ["size", "sample", "full"])
def test_a_shorter_copy_fails_every_check(tmp_path: Path, how: str) -> None:
    source, copy = copies(tmp_path, 2**20)
    os.truncate(copy, 2**20 - 1)

    with pytest.raises(VerificationFailed, match="1048575 bytes"):
        verify_copy(source, copy, how)  # type: ignore[arg-type]


def test_sample_sees_a_flipped_byte_in_a_sampled_block(tmp_path: Path) -> None:
    source, copy = copies(tmp_path, 3 * 2**20)
    flip(copy, sample_offsets(3 * 2**20)[-1] + SAMPLE_BLOCK_BYTES - 1)  # the very last byte

    with pytest.raises(VerificationFailed, match="differs"):
        verify_copy(source, copy, "sample")
    verify_copy(source, copy, "size")  # size alone cannot see it


def test_only_full_sees_a_flipped_byte_between_samples(tmp_path: Path) -> None:
    size = 3 * 2**20
    source, copy = copies(tmp_path, size)
    flip(copy, sample_offsets(size)[1] + SAMPLE_BLOCK_BYTES + 10)

    verify_copy(source, copy, "sample")
    with pytest.raises(VerificationFailed, match="hash"):
        verify_copy(source, copy, "full")


def test_full_digest_is_sha256_of_every_byte(tmp_path: Path) -> None:
    source, data = make_source(tmp_path, 3 * 2**20 + 1)

    assert full_digest(source) == hashlib.sha256(data).hexdigest()


def test_fingerprint_changes_with_content_and_size(tmp_path: Path) -> None:
    source, copy = copies(tmp_path, 2**20)
    before = fingerprint(copy)
    assert fingerprint(source) == before
    flip(copy, 0)
    assert fingerprint(copy) != before
    os.truncate(source, 2**20 - 1)
    assert fingerprint(source) != before


@pytest.mark.parametrize("size", [1, SAMPLE_BLOCK_BYTES + 7, 16 * SAMPLE_BLOCK_BYTES])
def test_a_small_file_is_verified_whole_with_the_fingerprint_recorded_before(
    tmp_path: Path, size: int
) -> None:
    """A file of at most 16 blocks is read whole: a flipped byte anywhere is seen (named
    near its block). Its fingerprint is the size, then every byte, in XXH3-128; asked like
    one earlier versions recorded (blake2b-128, `s16:`), it is that one, so a copy cached
    before still matches."""
    source, copy = copies(tmp_path, size)
    head, data = size.to_bytes(8, "little"), source.read_bytes()
    now = f"x16:{xxhash.xxh3_128_hexdigest(head + data)}"
    before = f"s16:{hashlib.blake2b(head + data, digest_size=16).hexdigest()}"

    assert verify_copy(source, copy, "sample") == fingerprint(copy) == now
    assert fingerprint(copy, like=before) == before
    flip(copy, size - 1)
    block = (size - 1) // SAMPLE_BLOCK_BYTES * SAMPLE_BLOCK_BYTES
    with pytest.raises(VerificationFailed, match=f"near byte {block}"):
        verify_copy(source, copy, "sample")
