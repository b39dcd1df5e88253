"""Crash safety for real: a child process runs an operation and is SIGKILLed mid-way.

The child stops itself at a named moment of the protocol, which it finds by watching the
journal and the copy from outside (`crash_child`), or is killed at a random moment; recovery
then runs on a fresh connection to the same database, and the promise is checked: the file
exists once under its own name with the original bytes, no temp is left, and the database
agrees.
"""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import pytest
from childproc import SIZE, Scene, finish, journal_states, kill, spawn, stop_at
from conftest import media_bytes, temps

from cacherr.files.verify import sample_offsets

CACHE_POINTS = {
    "union": [
        ("cache:planned", False),
        ("cache:mkdir", False),
        ("cache:copying", False),
        ("cache:chunk#1", False),
        ("cache:chunk#9", False),
        ("cache:verifying", False),
        ("cache:publishing", False),
        ("cache:publishing:after", False),
        ("cache:hiding", True),
        ("cache:hiding:after", True),
    ],
    "symlink": [
        ("cache:copying", False),
        ("cache:publishing:after", False),
        ("cache:backing_up", True),
        ("cache:backing_up:after", True),
        ("cache:linking", True),
        ("cache:linking:after", True),
    ],
}


@pytest.mark.parametrize(
    ("mode", "point", "cached"),
    [(mode, point, cached) for mode, points in CACHE_POINTS.items() for point, cached in points],
)
def test_cache_killed_at_each_step_recovers(
    tmp_path: Path, mode: str, point: str, cached: bool
) -> None:
    scene = Scene(tmp_path, mode=mode)
    child = stop_at(scene, point)
    kill(child)

    scene.recover_and_check(cached=cached)


RESTORE_POINTS = [
    # (mode, upgraded cache copy, point, still cached after recovery)
    ("union", False, "restore:planned", True),
    ("union", False, "restore:returning", False),
    ("union", False, "restore:returning:after", False),
    ("union", False, "restore:releasing", False),
    ("union", False, "restore:releasing:after", False),
    ("union", True, "restore:copying_back", True),
    ("union", True, "restore:chunk#3", True),
    ("union", True, "restore:verifying_back", True),
    ("union", True, "restore:replacing", False),
    ("union", True, "restore:replacing:after", False),
    ("union", True, "restore:releasing", False),
    ("symlink", False, "restore:returning", False),
    ("symlink", False, "restore:returning:after", False),
    ("symlink", True, "restore:replacing", False),
    ("symlink", True, "restore:replacing:after", False),
]


@pytest.mark.parametrize(("mode", "upgraded", "point", "cached"), RESTORE_POINTS)
def test_restore_killed_at_each_step_recovers(
    tmp_path: Path, mode: str, upgraded: bool, point: str, cached: bool
) -> None:
    scene = Scene(tmp_path, mode=mode)
    scene.cache_now()
    cache_data = scene.upgrade_cache_copy() if upgraded else None
    child = stop_at(scene, point)
    kill(child)

    scene.recover_and_check(cached=cached, cache_data=cache_data)


@pytest.mark.parametrize("seed", range(8))
def test_killed_at_a_random_moment_then_recovered_in_a_fresh_process(
    tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    scene = Scene(tmp_path, mode=rng.choice(["union", "symlink"]), verify="full")
    kind, upgrade = "cache", None
    if seed % 2:
        scene.cache_now()
        kind, upgrade = "restore", scene.upgrade_cache_copy()
    # Held right after the journal's first row, so the random delay falls in the operation
    # (tens of milliseconds) rather than in the interpreter's start-up.
    child = stop_at(scene, f"{kind}:planned")
    child.send_signal(signal.SIGCONT)
    time.sleep(rng.uniform(0.0, 0.07))
    kill(child)

    recovered = finish(spawn(scene.spec("recover")))

    assert all(action != "failed" for _, _, action, _ in recovered["recovered"]), recovered
    # After a restore the visible bytes are the upgrade's, wherever they now live.
    scene.recover_and_check(cached=None, cache_data=upgrade)


@pytest.mark.parametrize(("verify", "sampled"), [("sample", True), ("full", False)])
def test_a_copy_corrupted_before_verification_is_discarded(
    tmp_path: Path, verify: str, sampled: bool
) -> None:
    scene = Scene(tmp_path, verify=verify)
    child = stop_at(scene, "cache:verifying")
    [temp] = temps(Path(scene.mapping.cache))
    # A sampled block for `sample`; a byte between samples for `full` (only a hash sees it).
    offset = sample_offsets(SIZE)[8] + (100 if sampled else 70_000)
    with open(temp, "r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0xFF]))
    child.send_signal(signal.SIGCONT)

    outcome = finish(child)

    assert outcome["result"] == "failed"
    assert "differs" in outcome["error"] or "hash" in outcome["error"]
    scene.recover_and_check(cached=False)
    assert journal_states(scene.db_path) == [("verifying", "failed")]


def test_an_original_changed_after_its_copy_is_kept_and_the_copy_dropped(
    tmp_path: Path,
) -> None:
    scene = Scene(tmp_path)
    child = stop_at(scene, "cache:hiding")
    kill(child)
    newer = media_bytes(SIZE, seed=5)  # written to the array file while Cacherr was down
    scene.loc.array_path.write_bytes(newer)
    scene.data = newer

    scene.recover_and_check(cached=False)


def test_recovery_deletes_nothing_on_a_guess(tmp_path: Path) -> None:
    """Journal says 'hiding' but the original vanished: the cache copy is all there is."""
    scene = Scene(tmp_path)
    child = stop_at(scene, "cache:hiding")
    kill(child)
    scene.loc.array_path.unlink()

    recovered = finish(spawn(scene.spec("recover")))

    [(kind, step, action, error)] = recovered["recovered"]
    assert (kind, step, action) == ("cache", "hiding", "failed")
    assert "missing" in error
    assert scene.loc.cache_path.read_bytes() == scene.data
    assert journal_states(scene.db_path) == [("hiding", "failed")]


def test_a_cache_folder_removed_before_the_copy_is_made_again(tmp_path: Path) -> None:
    """The copy made its folders and journaled `copying`; before it opens its temp name, a
    sibling's restore (the last file in those folders going back) removes them while empty.
    The copy makes them again, journaled as its own, and goes on; once the file goes back
    too, they go with it."""
    scene = Scene(tmp_path)
    child = stop_at(scene, "cache:copying")
    season = scene.loc.cache_path.parent
    season.rmdir()
    season.parent.rmdir()
    child.send_signal(signal.SIGCONT)

    outcome = finish(child)

    assert outcome["result"] == "done", outcome
    scene.recover_and_check(cached=True)
    assert scene.loc.cache_path.read_bytes() == scene.data
    scene.restore_now()
    assert list(Path(scene.mapping.cache).iterdir()) == []
