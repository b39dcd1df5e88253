"""Caching and restoring one file through the protocol, in both modes, on real files."""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from pathlib import Path

import pytest
from conftest import Loc, assert_consistent, locate, media_bytes, put_media

from cacherr.config.models import Mapping
from cacherr.db import Database
from cacherr.files.copy import CopyControl
from cacherr.files.model import ProtocolOptions
from cacherr.files.ondisk import fsync_removal, make_dirs, missing_dirs
from cacherr.files.protocol import cache_file, restore_file

REL = "Show/Season 01/Show - S01E01.mkv"


def overwrite_in_place(path: Path, data: bytes) -> None:
    with open(path, "r+b") as handle:
        handle.write(data)


async def journal(db: Database) -> list[tuple[str, str, str, str | None]]:
    rows = await db.fetchall("SELECT kind, step, state, error FROM operations ORDER BY id")
    return [tuple(r) for r in rows]  # type: ignore[misc]


@pytest.mark.parametrize("mode", ["union", "symlink"])
async def test_cache_then_restore_unchanged_renames_the_original_back(
    db: Database, mapping: Mapping, options: ProtocolOptions, mode: str
) -> None:
    options = ProtocolOptions(**{**options.__dict__, "mode": mode})
    loc = locate(mapping, REL)
    data = media_bytes(3 * 2**20 + 17)
    put_media(loc, data)
    inode = os.stat(loc.array_path).st_ino

    outcome = await cache_file(db, loc, options, rating_key="42")

    assert (outcome.result, outcome.size_bytes, outcome.error) == ("done", len(data), None)
    await assert_consistent(db, loc, data, cached=True)
    cached = os.stat(loc.cache_path)
    original = os.stat(loc.backup_path)
    assert original.st_ino == inode  # the original itself waits aside, untouched
    assert stat.S_IMODE(cached.st_mode) == 0o640
    assert (cached.st_mtime_ns, cached.st_uid, cached.st_gid) == (
        original.st_mtime_ns, original.st_uid, original.st_gid,
    )  # fmt: skip
    assert loc.array_path.is_symlink() == (mode == "symlink")
    row = await db.fetchone("SELECT rating_key, plex_path, has_backup FROM managed_files")
    assert tuple(row) == ("42", loc.plex_path, 1)  # type: ignore[arg-type]

    outcome = await restore_file(db, loc, options)

    assert outcome.result == "done"
    await assert_consistent(db, loc, data, cached=False)
    assert os.stat(loc.array_path).st_ino == inode  # renamed back, not copied
    steps = [step for kind, step, state, _ in await journal(db) if state == "done"]
    assert steps == ["hiding" if mode == "union" else "linking", "releasing"]


@pytest.mark.parametrize("mode", ["union", "symlink"])
async def test_restore_copies_back_a_cache_copy_that_changed(
    db: Database, mapping: Mapping, options: ProtocolOptions, mode: str
) -> None:
    options = ProtocolOptions(**{**options.__dict__, "mode": mode})
    loc = locate(mapping, REL)
    put_media(loc, media_bytes(2**20))
    await cache_file(db, loc, options)
    upgraded = media_bytes(2**20 + 4096, seed=2)  # what Sonarr put in its place
    tmp = loc.cache_path.with_name("upgrade.part")
    tmp.write_bytes(upgraded)
    os.replace(tmp, loc.cache_path)

    outcome = await restore_file(db, loc, options)

    assert outcome.result == "done", outcome.error
    await assert_consistent(db, loc, upgraded, cached=False)
    assert (await journal(db))[-1][1:3] == ("releasing", "done")


async def test_a_change_that_kept_size_and_mtime_is_damage_not_an_upgrade(
    db: Database, mapping: Mapping, options: ProtocolOptions
) -> None:
    """Other bytes under the recorded size and time: the original comes back, by rename."""
    loc = locate(mapping, REL)
    original = media_bytes(2**20)
    put_media(loc, original)
    await cache_file(db, loc, options)
    st = os.stat(loc.cache_path)
    overwrite_in_place(loc.cache_path, media_bytes(2**20, seed=9))
    os.utime(loc.cache_path, ns=(st.st_atime_ns, st.st_mtime_ns))

    outcome = await restore_file(db, loc, options)

    assert outcome.result == "done"
    assert outcome.detail is not None and "damaged" in outcome.detail["warning"]
    await assert_consistent(db, loc, original, cached=False)


@pytest.mark.parametrize("damaged", [False, True])
async def test_a_fingerprint_an_earlier_version_recorded_is_checked_its_own_way(
    db: Database, mapping: Mapping, options: ProtocolOptions, damaged: bool
) -> None:
    """Copies cached before fingerprints moved to XXH3 carry a blake2b-128 one (`s16:`,
    the size then the sampled bytes): an unchanged copy still goes back without a word, a
    damaged one is still told; the original comes back by rename either way."""
    loc = locate(mapping, REL)
    data = media_bytes(2**20)
    put_media(loc, data)
    inode = os.stat(loc.array_path).st_ino
    await cache_file(db, loc, options)
    older = hashlib.blake2b(len(data).to_bytes(8, "little") + data, digest_size=16)
    await db.execute("UPDATE managed_files SET fingerprint = ?", (f"s16:{older.hexdigest()}",))
    if damaged:
        st = os.stat(loc.cache_path)
        overwrite_in_place(loc.cache_path, media_bytes(2**20, seed=9))
        os.utime(loc.cache_path, ns=(st.st_atime_ns, st.st_mtime_ns))

    outcome = await restore_file(db, loc, options)

    assert outcome.result == "done"
    warning = (outcome.detail or {}).get("warning") or ""
    assert ("damaged" in warning) == damaged
    await assert_consistent(db, loc, data, cached=False)
    assert os.stat(loc.array_path).st_ino == inode


async def test_restore_of_an_adopted_file_without_backup_copies_back(
    db: Database, mapping: Mapping, options: ProtocolOptions
) -> None:
    loc = locate(mapping, REL)
    data = media_bytes(2**20)
    loc.cache_path.parent.mkdir(parents=True)
    loc.cache_path.write_bytes(data)
    st = os.stat(loc.cache_path)
    await db.execute(
        "INSERT INTO managed_files (mapping, rel_path, plex_path, size_bytes, mtime_ns, "
        "has_backup, adopted, cached_at) VALUES (?, ?, ?, ?, ?, 0, 1, 0)",
        (mapping.name, REL, loc.plex_path, st.st_size, st.st_mtime_ns),
    )

    assert (await restore_file(db, loc, options)).result == "done"

    await assert_consistent(db, loc, data, cached=False, empty_cache=False)
    assert not loc.cache_path.exists()


async def test_restore_puts_the_backup_back_when_the_cache_copy_vanished(
    db: Database, mapping: Mapping, options: ProtocolOptions
) -> None:
    loc = locate(mapping, REL)
    data = media_bytes(2**16)
    put_media(loc, data)
    await cache_file(db, loc, options)
    loc.cache_path.unlink()

    assert (await restore_file(db, loc, options)).result == "done"

    await assert_consistent(db, loc, data, cached=False)


async def test_restore_refuses_a_file_that_is_not_managed(
    db: Database, mapping: Mapping, options: ProtocolOptions
) -> None:
    loc = locate(mapping, REL)
    put_media(loc, b"x")

    outcome = await restore_file(db, loc, options)

    assert outcome.result == "failed"
    assert "not managed" in (outcome.error or "")
    assert (await journal(db))[-1][2] == "failed"


@pytest.mark.parametrize("mode", ["union", "symlink"])
async def test_the_name_users_see_never_disappears(
    db: Database, mapping: Mapping, options: ProtocolOptions, mode: str
) -> None:
    """Watch the visible name from another thread through a cache and a restore."""
    options = ProtocolOptions(**{**options.__dict__, "mode": mode})
    loc = locate(mapping, REL)
    put_media(loc, media_bytes(4 * 2**20))
    stop, gaps, looks = threading.Event(), [], [0]

    def visible() -> bool:
        # Union mode: Unraid's /mnt/user shows the cache copy, else the array file.
        if mode == "union":
            return loc.cache_path.exists() or loc.array_path.exists()
        return loc.array_path.exists()  # follows the symlink to the cache copy

    def watch() -> None:
        while not stop.is_set():
            looks[0] += 1
            if not visible():
                gaps.append(looks[0])

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        assert (await cache_file(db, loc, options)).result == "done"
        assert (await restore_file(db, loc, options)).result == "done"
    finally:
        stop.set()
        watcher.join()
    assert gaps == []
    assert looks[0] > 100


async def test_missing_cache_folders_are_made_like_the_array_ones_and_removed_after(
    db: Database, mapping: Mapping, options: ProtocolOptions
) -> None:
    first, second = locate(mapping, REL), locate(mapping, REL.replace("E01", "E02"))
    put_media(first, media_bytes(1000))
    put_media(second, media_bytes(2000))
    os.chmod(first.array_path.parent, 0o751)
    os.chmod(first.array_path.parent.parent, 0o750)

    assert (await cache_file(db, first, options)).result == "done"
    assert (await cache_file(db, second, options)).result == "done"

    season = first.cache_path.parent
    assert stat.S_IMODE(os.stat(season).st_mode) == 0o751
    assert stat.S_IMODE(os.stat(season.parent).st_mode) == 0o750
    created = await db.fetchall("SELECT rel_path, created_dirs FROM managed_files ORDER BY id")
    assert [r[1] for r in created] == [f'["{season.parent}", "{season}"]', "[]"]

    assert (await restore_file(db, first, options)).result == "done"
    assert season.is_dir()  # the second file still lives there
    heir = await db.fetchone("SELECT created_dirs FROM managed_files")
    assert heir is not None and str(season) in heir[0]
    assert (await restore_file(db, second, options)).result == "done"
    assert os.listdir(mapping.cache) == []


def test_a_cache_folder_gone_since_the_look_is_made_again_and_counted_as_made(
    mapping: Mapping,
) -> None:
    """A copy looks for its missing folders, then a sibling's restore removes the folder its
    own copy had made (the last file in it went back): the copy makes it again, and owns it,
    instead of failing on its temp name."""
    loc = locate(mapping, REL)
    put_media(loc, media_bytes(1000))
    os.chmod(loc.array_path.parent, 0o751)
    season = loc.cache_path.parent
    season.mkdir(parents=True)
    looked = missing_dirs(loc)
    assert looked == []
    season.rmdir()

    assert make_dirs(loc) == [str(season)]
    assert stat.S_IMODE(os.stat(season).st_mode) == 0o751


def test_a_removal_is_made_durable_above_a_folder_a_sibling_removed_meanwhile(
    tmp_path: Path,
) -> None:
    """A restore unlinks its cache copy; before it fsyncs the folder, a sibling's restore
    (the last file out) removes the folder. The removal is made durable in the folder above,
    where the restore used to fail at `releasing` with the file already back."""
    season = tmp_path / "Show" / "Season 01"
    season.mkdir(parents=True)
    copy = season / "Show - S01E01.mkv"
    copy.write_bytes(b"x")
    os.unlink(copy)
    season.rmdir()
    (tmp_path / "Show").rmdir()

    fsync_removal(season)  # no FileNotFoundError: tmp_path is fsynced

    assert list(tmp_path.iterdir()) == []


async def test_an_existing_cache_folder_is_left_alone(
    db: Database, mapping: Mapping, options: ProtocolOptions
) -> None:
    loc = locate(mapping, REL)
    data = media_bytes(1000)
    put_media(loc, data)
    loc.cache_path.parent.mkdir(parents=True)

    await cache_file(db, loc, options)
    await restore_file(db, loc, options)

    await assert_consistent(db, loc, data, cached=False, empty_cache=False)
    assert loc.cache_path.parent.is_dir()


@pytest.mark.parametrize("mode", ["union", "symlink"])
async def test_hardlinked_files_are_skipped_by_default(
    db: Database, mapping: Mapping, options: ProtocolOptions, mode: str
) -> None:
    options = ProtocolOptions(**{**options.__dict__, "mode": mode})
    loc = locate(mapping, REL)
    data = media_bytes(1000)
    put_media(loc, data)
    os.link(loc.array_path, Path(mapping.array) / "seeding.mkv")

    outcome = await cache_file(db, loc, options)

    assert outcome.result == "skipped"
    assert "2 hard links" in (outcome.error or "")
    assert await journal(db) == [("cache", "skipped", "cancelled", outcome.error)]
    await assert_consistent(db, loc, data, cached=False)


@pytest.mark.parametrize("mode", ["union", "symlink"])
async def test_hardlinks_copy_mode_keeps_the_other_link_on_the_same_inode(
    db: Database, mapping: Mapping, options: ProtocolOptions, mode: str
) -> None:
    options = ProtocolOptions(**{**options.__dict__, "mode": mode, "hardlinks": "copy"})
    loc = locate(mapping, REL)
    data = media_bytes(5000)
    put_media(loc, data)
    other = Path(mapping.array) / "seeding.mkv"
    os.link(loc.array_path, other)

    assert (await cache_file(db, loc, options)).result == "done"
    assert loc.backup_path.samefile(other)
    assert (await restore_file(db, loc, options)).result == "done"

    assert loc.array_path.samefile(other)
    assert os.stat(other).st_nlink == 2
    assert other.read_bytes() == data


async def test_cancelling_mid_copy_removes_the_temp_and_keeps_the_original(
    db: Database, mapping: Mapping, options: ProtocolOptions
) -> None:
    loc = locate(mapping, REL)
    data = media_bytes(2 * 2**20)
    put_media(loc, data)
    control = CopyControl()
    seen: list[int] = []

    def progress(done: int, size: int) -> None:
        seen.append(done)
        if done >= size // 2:
            control.cancel.set()

    control.on_progress = progress

    outcome = await cache_file(db, loc, options, control=control)

    assert outcome.result == "cancelled"
    assert seen[-1] < len(data)
    await assert_consistent(db, loc, data, cached=False)
    assert (await journal(db))[-1][1:3] == ("copying", "cancelled")


async def test_a_second_cache_of_the_same_file_is_refused_without_touching_it(
    db: Database, mapping: Mapping, options: ProtocolOptions
) -> None:
    loc = locate(mapping, REL)
    data = media_bytes(1000)
    put_media(loc, data)
    await cache_file(db, loc, options)

    again = await cache_file(db, loc, options)

    assert again.result == "failed"
    assert "already hidden" in (again.error or "")
    await assert_consistent(db, loc, data, cached=True)


async def test_a_file_already_on_the_cache_is_not_overwritten(
    db: Database, mapping: Mapping, options: ProtocolOptions
) -> None:
    loc = locate(mapping, REL)
    put_media(loc, media_bytes(1000))
    loc.cache_path.parent.mkdir(parents=True)
    loc.cache_path.write_bytes(b"someone else's")

    outcome = await cache_file(db, loc, options)

    assert outcome.result == "failed"
    assert loc.cache_path.read_bytes() == b"someone else's"
    assert loc.array_path.exists()


async def test_a_missing_pool_folder_is_refused(
    db: Database, tmp_path: Path, options: ProtocolOptions
) -> None:
    (tmp_path / "array").mkdir()
    mapping = Mapping(
        name="tv", plex="/data/tv", array=str(tmp_path / "array"), cache=str(tmp_path / "gone")
    )
    loc: Loc = locate(mapping, REL)
    put_media(loc, b"x")

    outcome = await cache_file(db, loc, options)

    assert outcome.result == "failed"
    assert "is the pool mounted" in (outcome.error or "")
    assert not (tmp_path / "gone").exists()
