"""A batch of small files killed at random moments, then recovered in a fresh process.

No fault-injection point inside Cacherr: the child says when its batch begins (one line on
stdout) and the test sends SIGKILL after a random delay, so the kill falls anywhere in the
batch: in its journal commits, between copies, among the renames of a step, or after.
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path
from typing import Any

import pytest
from childproc import finish, kill, spawn
from conftest import check_disk, locate, media_bytes, put_media

from cacherr.config.models import Mapping
from cacherr.db import Database
from cacherr.files.model import ProtocolOptions

FILES = 32
SIZE = 96 * 1024


def spec(db_path: Path, mapping: Mapping, rels: list[str], mode: str, kind: str) -> dict[str, Any]:
    options = ProtocolOptions(mode=mode, min_free="0B", limit="100%")  # type: ignore[arg-type]
    return {"db": str(db_path), "mapping": mapping.model_dump(), "rel": "", "rels": rels,
            "kind": kind, "options": options.__dict__}  # fmt: skip


async def _rows(db_path: Path) -> tuple[list[Any], dict[str, Any]]:
    db = await Database.open(db_path)
    try:
        running = await db.fetchall("SELECT id FROM operations WHERE state = 'running'")
        rows = await db.fetchall("SELECT rel_path, state, size_bytes, mtime_ns FROM managed_files")
    finally:
        await db.close()
    return list(running), {r["rel_path"]: r for r in rows}


@pytest.mark.parametrize("seed", range(12))
def test_a_batch_killed_at_a_random_moment_leaves_every_file_whole(
    tmp_path: Path, mapping: Mapping, seed: int
) -> None:
    rng = random.Random(seed)
    mode = "union" if seed % 2 == 0 else "symlink"
    rels = [f"Show {n % 4}/Season 01/E{n:02d}.en.srt" for n in range(FILES)]
    locs = [locate(mapping, rel) for rel in rels]
    for n, loc in enumerate(locs):
        put_media(loc, media_bytes(SIZE, seed=n))
    db_path = tmp_path / "c.db"

    child = spawn(spec(db_path, mapping, rels, mode, "batch"))
    assert child.stdout is not None
    assert '"started"' in child.stdout.readline()
    time.sleep(rng.uniform(0.0, 0.25))
    kill(child)

    recovered = finish(spawn(spec(db_path, mapping, rels, mode, "recover")))
    assert all(action != "failed" for _, _, action, _ in recovered["recovered"]), recovered
    running, rows = asyncio.run(_rows(db_path))
    assert running == []
    for n, loc in enumerate(locs):
        row = rows.get(loc.rel)
        assert row is None or row["state"] == "cached"
        check_disk(loc, media_bytes(SIZE, seed=n), cached=row is not None, row=row)
