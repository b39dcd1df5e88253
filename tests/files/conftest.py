"""Fixtures for the on-disk protocol: real folders for the two tiers, a real database."""

from __future__ import annotations

import hashlib
import os
import random
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cacherr.config.models import Mapping
from cacherr.db import Database
from cacherr.files import names
from cacherr.files.model import ProtocolOptions
from cacherr.files.paths import Location, PathResolver

Loc = Location


def locate(mapping: Mapping, rel: str) -> Location:
    """The file `rel` of `mapping`, resolved as the daemon resolves it."""
    return PathResolver([mapping]).from_rel(mapping.name, rel)


def media_bytes(size: int, seed: int = 1) -> bytes:
    """Reproducible bytes that differ block to block (so a misplaced block is noticed)."""
    return random.Random(seed).randbytes(size)


def put_media(loc: Loc, data: bytes, *, mode: int = 0o640) -> None:
    loc.array_path.parent.mkdir(parents=True, exist_ok=True)
    loc.array_path.write_bytes(data)
    os.chmod(loc.array_path, mode)
    os.utime(loc.array_path, ns=(1_600_000_000_123_456_789, 1_600_000_000_987_654_321))


@pytest.fixture
def mapping(tmp_path: Path) -> Mapping:
    array, cache = tmp_path / "array", tmp_path / "cache"
    array.mkdir()
    cache.mkdir()
    return Mapping(name="tv", plex="/data/tv", array=str(array), cache=str(cache))


@pytest.fixture
def options() -> ProtocolOptions:
    return ProtocolOptions(min_free="0B", limit="100%", chunk_bytes=256 * 1024)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "c.db")
    yield database
    await database.close()


def tree(root: Path) -> dict[str, str]:
    """Every entry below `root`: 'dir', 'link -> target' or the file's bytes' hash."""
    found: dict[str, str] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            st = os.lstat(path)
            rel = str(path.relative_to(root))
            if stat.S_ISLNK(st.st_mode):
                found[rel] = f"link -> {os.readlink(path)}"
            elif stat.S_ISDIR(st.st_mode):
                found[rel] = "dir"
            else:
                found[rel] = hashlib.blake2b(path.read_bytes(), digest_size=8).hexdigest()
    return found


def temps(*roots: Path) -> list[Path]:
    return [
        Path(folder) / name
        for root in roots
        for folder, _, files in os.walk(root)
        for name in files
        if names.is_temp(Path(name))
    ]


async def assert_consistent(
    db: Database, loc: Location, data: bytes, *, cached: bool, empty_cache: bool = True
) -> None:
    """The protocol's promise: the file exists once, with its bytes; db and disk agree."""
    running = await db.fetchall("SELECT id, step FROM operations WHERE state = 'running'")
    assert [tuple(r) for r in running] == []
    row = await db.fetchone(
        "SELECT state, size_bytes, mtime_ns FROM managed_files WHERE mapping = ? AND rel_path = ?",
        (loc.mapping.name, loc.rel),
    )
    check_disk(loc, data, cached=cached, row=row, empty_cache=empty_cache)


def check_disk(
    loc: Location, data: bytes, *, cached: bool, row: Any, empty_cache: bool = True
) -> None:
    roots = (Path(loc.mapping.array), Path(loc.mapping.cache))
    assert temps(*roots) == []
    if cached:
        assert row is not None and row["state"] == "cached"
        assert loc.cache_path.read_bytes() == data
        assert loc.backup_path.read_bytes() == data
        st = os.stat(loc.cache_path)
        assert (row["size_bytes"], row["mtime_ns"]) == (st.st_size, st.st_mtime_ns)
        if os.path.islink(loc.array_path):
            assert os.readlink(loc.array_path) == str(loc.cache_path)
        else:
            assert not os.path.lexists(loc.array_path)
    else:
        assert row is None
        assert not os.path.islink(loc.array_path)
        assert loc.array_path.read_bytes() == data
        assert not os.path.lexists(loc.cache_path)
        assert not os.path.lexists(loc.backup_path)
        # Nothing Cacherr created is left on the cache, folders included.
        if empty_cache:
            assert tree(roots[1]) == {}
