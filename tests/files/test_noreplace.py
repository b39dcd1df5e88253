"""Final-name renames refuse to replace: a file that lands in between is kept and reported.

A child process runs the operation and stops itself right before a rename, once the
journal announced it (`crash_child`); the test then writes a file under the name the rename
is about to take, as an import by Sonarr/Radarr would, and lets the child go on. Afterwards
recovery runs as at a restart.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest
from childproc import Scene, finish, kill, stop_at
from conftest import media_bytes, temps

from cacherr.db import Database
from cacherr.files.protocol import recover
from cacherr.files.rename import is_symlink_to, rename_noreplace, replace_expected

IMPORT = b"a file an import wrote under this name meanwhile"


def land(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(IMPORT)


def recover_now(db_path: Path) -> list[str]:
    async def run() -> list[str]:
        db = await Database.open(db_path)
        try:
            done = await recover(db)
            rows = await db.fetchall("SELECT state FROM operations WHERE state = 'running'")
            assert rows == []
            return [r.action for r in done]
        finally:
            await db.close()

    return asyncio.run(run())


def test_rename_noreplace_refuses_an_existing_name(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.write_bytes(b"new")
    dst.write_bytes(b"old")
    with pytest.raises(FileExistsError):
        rename_noreplace(src, dst)
    assert (src.read_bytes(), dst.read_bytes()) == (b"new", b"old")
    dst.unlink()
    rename_noreplace(src, dst)
    assert dst.read_bytes() == b"new" and not src.exists()


def test_replace_expected_takes_only_cacherrs_own_symlink(tmp_path: Path) -> None:
    cache, src, dst = tmp_path / "cache", tmp_path / "src", tmp_path / "dst"
    cache.write_bytes(b"cache copy")
    src.write_bytes(b"original")
    dst.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(FileExistsError):  # a symlink, but not to the cache copy
        replace_expected(src, dst, is_symlink_to(cache))
    assert os.readlink(dst) == str(tmp_path / "elsewhere") and src.exists()
    dst.unlink()
    dst.symlink_to(cache)
    replace_expected(src, dst, is_symlink_to(cache))
    assert not dst.is_symlink() and dst.read_bytes() == b"original" and not src.exists()


@pytest.mark.parametrize("mode", ["union", "symlink"])
def test_a_file_landing_at_the_cache_name_before_publishing_is_kept(
    tmp_path: Path, mode: str
) -> None:
    scene = Scene(tmp_path, mode=mode)
    child = stop_at(scene, "cache:publishing")
    land(scene.loc.cache_path)
    child.send_signal(signal.SIGCONT)

    outcome = finish(child)

    assert outcome["result"] == "failed"
    assert "was kept" in outcome["error"]
    assert scene.loc.cache_path.read_bytes() == IMPORT
    assert scene.loc.array_path.read_bytes() == scene.data
    assert not scene.loc.array_path.is_symlink()
    assert not scene.loc.backup_path.exists()
    assert temps(Path(scene.mapping.array), Path(scene.mapping.cache)) == []


@pytest.mark.parametrize(
    ("mode", "point"),
    [
        ("union", "restore:returning"),
        ("union", "restore:replacing"),
        ("symlink", "restore:replacing"),
    ],
)
def test_a_file_landing_at_the_array_name_before_the_restore_takes_it_is_kept(
    tmp_path: Path, mode: str, point: str
) -> None:
    scene = Scene(tmp_path, mode=mode)
    scene.cache_now()
    # An upgraded cache copy is copied back (replacing); an unchanged one returns by rename.
    cache_data = scene.upgrade_cache_copy() if point == "restore:replacing" else scene.data
    child = stop_at(scene, point)
    if mode == "symlink":
        scene.loc.array_path.unlink()  # the import replaced Cacherr's symlink
    land(scene.loc.array_path)
    child.send_signal(signal.SIGCONT)

    outcome = finish(child)
    recover_now(scene.db_path)

    assert outcome["result"] == "failed" and "was kept" in outcome["error"]
    assert scene.loc.array_path.read_bytes() == IMPORT
    assert scene.loc.backup_path.read_bytes() == scene.data
    assert scene.loc.cache_path.read_bytes() == cache_data
    assert temps(Path(scene.mapping.array), Path(scene.mapping.cache)) == []


def test_recovery_keeps_a_file_that_landed_while_cacherr_was_down(tmp_path: Path) -> None:
    scene = Scene(tmp_path)
    scene.cache_now()
    child = stop_at(scene, "restore:returning")
    kill(child)
    land(scene.loc.array_path)

    assert recover_now(scene.db_path) == ["failed"]

    assert scene.loc.array_path.read_bytes() == IMPORT
    assert scene.loc.backup_path.read_bytes() == scene.data
    assert scene.loc.cache_path.read_bytes() == media_bytes(len(scene.data))


def swap(a: Path, b: Path) -> None:
    """What renameat2(RENAME_EXCHANGE) does, in three renames (the test's own hands)."""
    aside = a.with_name(a.name + ".swap")
    os.rename(a, aside)
    os.rename(b, a)
    os.rename(aside, b)


@pytest.mark.parametrize("point", ["restore:returning", "restore:replacing"])
def test_a_crash_between_the_name_swap_and_its_unlink_is_finished_by_recovery(
    tmp_path: Path, point: str
) -> None:
    """Symlink mode gives the array name back by swapping it with Cacherr's symlink, then
    unlinking the symlink; killed in between, recovery finishes the swap."""
    scene = Scene(tmp_path, mode="symlink")
    scene.cache_now()
    upgrade = scene.upgrade_cache_copy() if point == "restore:replacing" else None
    child = stop_at(scene, point)
    kill(child)
    if upgrade is None:
        swap(scene.loc.backup_path, scene.loc.array_path)
    else:
        [temp] = temps(Path(scene.mapping.array))  # the verified copy-back
        swap(temp, scene.loc.array_path)

    assert recover_now(scene.db_path) == ["rolled_forward"]

    scene.check(cached=False, row=None, cache_data=upgrade)
