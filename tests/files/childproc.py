"""Running protocol operations in a child process that a test can stop, kill or resume.

`stop_at` starts the child with a moment to stop at (see `crash_child`) and checks, while
it is stopped, that the journal and the files are as that moment leaves them (`MOMENTS`):
a stop that drifted to another moment of the protocol fails there, not later.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import check_disk, locate, media_bytes, put_media, temps
from crash_child import PAUSED_MARKER

from cacherr.config.models import Mapping
from cacherr.db import Database
from cacherr.files.model import ProtocolOptions
from cacherr.files.protocol import cache_file, recover, restore_file

CHILD = Path(__file__).with_name("crash_child.py")
REL = "Show/Season 01/Show - S01E02.mkv"
SIZE = 2 * 2**20 + 12345
CHUNK = 128 * 1024
UPGRADE_SIZE = SIZE - 999  # the cache copy as `Scene.upgrade_cache_copy` leaves it

# What a stop leaves: (mode, point) -> (the running operation's journal step, the file's
# managed_files state, `Scene.on_disk()`).
_CACHED = {"union": "backup folder cache", "symlink": "link backup folder cache"}
MOMENTS: dict[tuple[str, str], tuple[str, str | None, str]] = {
    **{
        (mode, point): moment
        for mode in ("union", "symlink")
        for point, moment in {
            "cache:planned": ("planned", None, "array"),
            "cache:mkdir": ("mkdir", "caching", "array"),
            "cache:copying": ("copying", "caching", "array folder"),
            "cache:chunk#1": ("copying", "caching", f"array folder temp:{CHUNK}"),
            "cache:chunk#9": ("copying", "caching", f"array folder temp:{9 * CHUNK}"),
            "cache:verifying": ("verifying", "caching", f"array folder temp:{SIZE}"),
            "cache:publishing": ("publishing", "caching", f"array folder temp:{SIZE}"),
            "cache:publishing:after": ("publishing", "caching", "array folder cache"),
            "restore:planned": ("planned", "cached", _CACHED[mode]),
            "restore:returning": ("returning", "cached", _CACHED[mode]),
            "restore:returning:after": ("returning", "cached", "array folder cache"),
            "restore:copying_back": ("copying_back", "cached", _CACHED[mode]),
            "restore:chunk#3": ("copying_back", "cached", f"{_CACHED[mode]} temp:{3 * CHUNK}"),
            "restore:verifying_back": (
                "verifying_back", "cached", f"{_CACHED[mode]} temp:{UPGRADE_SIZE}"
            ),
            "restore:replacing": ("replacing", "cached", f"{_CACHED[mode]} temp:{UPGRADE_SIZE}"),
            "restore:replacing:after": ("replacing", "cached", "array folder cache"),
            "restore:releasing": ("releasing", "cached", "array folder cache"),
            "restore:releasing:after": ("releasing", "cached", "array"),
        }.items()
    },
    ("union", "cache:hiding"): ("hiding", "caching", "array folder cache"),
    ("union", "cache:hiding:after"): ("hiding", "caching", "backup folder cache"),
    ("symlink", "cache:backing_up"): ("backing_up", "caching", "array folder cache"),
    ("symlink", "cache:backing_up:after"): ("backing_up", "caching", "array backup folder cache"),
    ("symlink", "cache:linking"): ("linking", "caching", "array backup folder cache"),
    ("symlink", "cache:linking:after"): ("linking", "caching", "link backup folder cache"),
}  # fmt: skip


def spawn(spec: dict[str, Any]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(CHILD), json.dumps(spec)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop_at(scene: Scene, point: str, **extra: Any) -> subprocess.Popen[str]:
    """Run the operation `point` names in a child stopped at `point`; checks the moment."""
    child = spawn(scene.spec(point.partition(":")[0], stop=point, **extra))
    try:
        wait_paused(child, point)
        moment, expected = scene.stopped(), MOMENTS[scene.options.mode, point]
        assert moment == expected, f"stopped at {moment}, not at {point}: {expected}"
    except BaseException:
        kill(child)
        raise
    return child


def wait_paused(proc: subprocess.Popen[str], point: str) -> None:
    """Block until the child has announced `point` and is stopped there."""
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.strip() == f"{PAUSED_MARKER} {point}":
            break
    else:
        out = proc.stdout.read() if proc.stdout else ""
        pytest.fail(f"the child never reached {point}: {out} {''.join(seen)}")
    _, status = os.waitpid(proc.pid, os.WUNTRACED)
    assert os.WIFSTOPPED(status)


def kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def finish(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    return dict(json.loads(out.strip().splitlines()[-1]))


class Scene:
    """The folders, the database and the spec a child gets."""

    def __init__(
        self,
        tmp_path: Path,
        *,
        mode: str = "union",
        verify: str = "sample",
        size: int = SIZE,
        cache: Path | None = None,
    ) -> None:
        array, cache = tmp_path / "array", cache or tmp_path / "cache"
        array.mkdir(exist_ok=True)
        cache.mkdir(exist_ok=True)
        self.mapping = Mapping(name="tv", plex="/data/tv", array=str(array), cache=str(cache))
        self.loc = locate(self.mapping, REL)
        self.db_path = tmp_path / "c.db"
        self.options = ProtocolOptions(
            mode=mode,
            verify=verify,
            min_free="0B",
            limit="100%",
            chunk_bytes=CHUNK,  # type: ignore[arg-type]
        )
        self.data = media_bytes(size)
        put_media(self.loc, self.data)

    def spec(self, kind: str, **extra: Any) -> dict[str, Any]:
        return {
            "db": str(self.db_path),
            "mapping": self.mapping.model_dump(),
            "rel": REL,
            "kind": kind,
            "options": self.options.__dict__,
            **extra,
        }

    def on_disk(self) -> str:
        """What the file's names hold: `array` (a file) or `link` (a symlink) at the array
        name, `backup`, `folder` (the cache folder), `cache`, `temp:<bytes>` per temp file."""
        loc = self.loc
        found = []
        if loc.array_path.is_symlink():
            found.append("link")
        elif loc.array_path.exists():
            found.append("array")
        found += [word for word, path in [
            ("backup", loc.backup_path), ("folder", loc.cache_path.parent),
            ("cache", loc.cache_path),
        ] if os.path.lexists(path)]  # fmt: skip
        roots = (Path(self.mapping.array), Path(self.mapping.cache))
        found += [f"temp:{temp.stat().st_size}" for temp in temps(*roots)]
        return " ".join(found)

    def stopped(self) -> tuple[str, str | None, str]:
        """The running operation's step, the file's managed state, and `on_disk()`."""

        async def run() -> tuple[str, str | None]:
            db = await Database.open(self.db_path)
            try:
                [op] = await db.fetchall("SELECT step FROM operations WHERE state = 'running'")
                row = await db.fetchone(
                    "SELECT state FROM managed_files WHERE rel_path = ?", (REL,)
                )
            finally:
                await db.close()
            return op[0], row[0] if row is not None else None

        step, state = asyncio.run(run())
        return step, state, self.on_disk()

    def cache_now(self) -> None:
        self._done_now(cache_file)

    def restore_now(self) -> None:
        self._done_now(restore_file)

    def _done_now(self, operation: Any) -> None:
        """Run `operation` (cache_file or restore_file) on the file here; it must be done."""

        async def run() -> None:
            db = await Database.open(self.db_path)
            try:
                assert (await operation(db, self.loc, self.options)).result == "done"
            finally:
                await db.close()

        asyncio.run(run())

    def upgrade_cache_copy(self) -> bytes:
        """Replace the cache copy as Sonarr would (a new file under the same name)."""
        new = media_bytes(SIZE - 999, seed=7)
        part = self.loc.cache_path.with_name("upgrade.part")
        part.write_bytes(new)
        os.replace(part, self.loc.cache_path)
        return new

    def recover_and_check(self, *, cached: bool | None, cache_data: bytes | None = None) -> bool:
        """Recover on a fresh connection; check the promise. `cached` None: either is fine."""

        async def run() -> bool:
            db = await Database.open(self.db_path)
            try:
                await recover(db)
                assert await db.fetchall("SELECT 1 FROM operations WHERE state = 'running'") == []
                row = await db.fetchone(
                    "SELECT state, size_bytes, mtime_ns FROM managed_files WHERE rel_path = ?",
                    (REL,),
                )
            finally:
                await db.close()
            is_cached = row is not None
            if cached is not None:
                assert is_cached == cached
            self.check(cached=is_cached, row=row, cache_data=cache_data)
            return is_cached

        return asyncio.run(run())

    def check(self, *, cached: bool, row: Any, cache_data: bytes | None) -> None:
        if cached and cache_data is not None:  # a restore of an upgraded copy, rolled back
            assert self.loc.cache_path.read_bytes() == cache_data
            assert self.loc.backup_path.read_bytes() == self.data
            assert temps(Path(self.mapping.array), Path(self.mapping.cache)) == []
        else:
            check_disk(self.loc, cache_data or self.data, cached=cached, row=row)


def journal_states(db_path: Path) -> list[tuple[str, str]]:
    """(step, state) of every journaled operation, oldest first."""

    async def run() -> list[tuple[str, str]]:
        db = await Database.open(db_path)
        try:
            rows = await db.fetchall("SELECT step, state FROM operations ORDER BY id")
        finally:
            await db.close()
        return [(r[0], r[1]) for r in rows]

    return asyncio.run(run())
