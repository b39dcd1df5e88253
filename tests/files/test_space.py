"""Space: the budget and floor checked before a copy, and real I/O errors in the middle."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from childproc import Scene, finish, journal_states, spawn, stop_at
from conftest import assert_consistent, locate, media_bytes, put_media

from cacherr.config.models import Mapping
from cacherr.db import Database
from cacherr.errors import InsufficientSpace
from cacherr.files.model import ProtocolOptions
from cacherr.files.protocol import cache_file
from cacherr.files.space import PoolSpace, check_space
from tests.hardening.test_faults import tmpfs

MiB = 2**20
POOL = PoolSpace(total_bytes=1000 * MiB, free_bytes=300 * MiB)


def test_a_file_that_fits_both_rules_is_allowed() -> None:
    check = check_space(
        100 * MiB, POOL, min_free="10%", limit="50%", managed_bytes=200 * MiB,
        pending_bytes=50 * MiB,
    )  # fmt: skip

    assert check.allows
    assert (check.min_free_bytes, check.limit_bytes) == (100 * MiB, 500 * MiB)
    assert (check.room_above_floor, check.room_in_budget) == (150 * MiB, 300 * MiB)


def test_the_limit_counts_what_cacherr_already_manages() -> None:
    with pytest.raises(InsufficientSpace) as caught:
        check_space(101 * MiB, POOL, min_free="0B", limit="500MiB", managed_bytes=400 * MiB)

    assert "only 104857600 are left of the cache.limit of 524288000" in caught.value.message
    assert caught.value.details["managed_bytes"] == 400 * MiB


def test_the_floor_counts_what_running_copies_will_still_write() -> None:
    with pytest.raises(InsufficientSpace) as caught:
        check_space(
            120 * MiB, POOL, min_free="100MiB", limit="100%", managed_bytes=0,
            pending_bytes=90 * MiB,
        )  # fmt: skip

    message = caught.value.message
    assert "the pool has 314572800 free, 94371840 promised to running copies" in message
    assert "must keep 104857600 free (cache.min_free)" in message


async def test_a_copy_beyond_the_limit_is_refused_before_anything_is_written(
    db: Database, mapping: Mapping, options: ProtocolOptions
) -> None:
    options = ProtocolOptions(**{**options.__dict__, "limit": "1500KiB"})
    first, second = locate(mapping, "a/one.mkv"), locate(mapping, "a/two.mkv")
    put_media(first, media_bytes(MiB))
    second_data = media_bytes(MiB, seed=2)
    put_media(second, second_data)
    assert (await cache_file(db, first, options)).result == "done"

    outcome = await cache_file(db, second, options)

    assert outcome.result == "failed"
    assert "cache.limit" in (outcome.error or "")
    await assert_consistent(db, second, second_data, cached=False, empty_cache=False)
    last = await db.fetchone("SELECT step, state FROM operations ORDER BY id DESC LIMIT 1")
    assert tuple(last) == ("planned", "failed")  # type: ignore[arg-type]


@pytest.fixture
def small_pool(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs as the pool (we run as root in CI; elsewhere the test skips)."""
    # Where it cannot be mounted, test_efbig_mid_copy covers an I/O error at the OS boundary.
    with tmpfs(tmp_path / "pool", "2m") as pool:
        yield pool


def test_enospc_mid_copy_removes_the_temp_and_keeps_the_original(
    tmp_path: Path, small_pool: Path
) -> None:
    """Real ENOSPC: the space check passes, then another writer fills the pool."""
    scene = Scene(tmp_path, size=1536 * 1024, cache=small_pool)
    child = stop_at(scene, "cache:copying")
    (small_pool / "someone-else.bin").write_bytes(b"\0" * MiB)
    child.send_signal(signal.SIGCONT)

    outcome = finish(child)

    assert outcome["result"] == "failed"
    assert "No space left on device" in outcome["error"]
    assert journal_states(scene.db_path) == [("copying", "failed")]
    (small_pool / "someone-else.bin").unlink()
    scene.recover_and_check(cached=False)


def test_efbig_mid_copy_removes_the_temp_and_keeps_the_original(tmp_path: Path) -> None:
    """An I/O error from the kernel mid-copy without a mount: RLIMIT_FSIZE gives EFBIG."""
    scene = Scene(tmp_path, size=3 * MiB)

    outcome = finish(spawn(scene.spec("cache", fsize_limit=2 * MiB)))

    assert outcome["result"] == "failed"
    assert "File too large" in outcome["error"]
    assert journal_states(scene.db_path) == [("copying", "failed")]
    scene.recover_and_check(cached=False)
