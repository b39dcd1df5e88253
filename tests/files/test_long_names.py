"""File names near the 255-byte limit: temp names always fit, and a name that cannot be
cached fails alone, settled, without stopping the files after it (issue 14, item 6)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import assert_consistent, locate, media_bytes, put_media

from cacherr.config.models import Mapping
from cacherr.db import Database
from cacherr.files import names
from cacherr.files.audit import FindingKind, FixAction, scan
from cacherr.files.audit_fix import apply_fix
from cacherr.files.model import ProtocolOptions
from cacherr.files.paths import PathResolver
from cacherr.files.protocol import cache_file, restore_file

# 244 bytes: the longest name whose `.plexcached` backup still fits; its plain temp name
# (`.{name}.{op}.cacherr-tmp`) would not. Two-byte characters test the cut.
LONGEST = "Show - S01E01 - " + "é" * 112 + ".mkv"
TOO_LONG = "Show - S01E02 - " + "é" * 115 + ".mkv"  # 250 bytes


def test_temp_names_always_fit_and_lead_back_to_their_file() -> None:
    assert len(os.fsencode(LONGEST)) == 244
    for length in (1, 200, 240, 241, 250, 255):
        for char in ("a", "é", "日"):
            final = Path("/x") / (char * (length // len(char.encode())))
            for op_id in (1, 12345678901):
                temp = names.temp_path(final, op_id)
                assert len(os.fsencode(temp.name)) <= names.NAME_MAX_BYTES
                temp.name.encode()  # whole characters only
                assert names.is_temp(temp)
                siblings = ["other.mkv", final.name]
                assert names.temp_final_name(temp.name, siblings) == final.name
    assert names.temp_path(Path("/x/a.mkv"), 3).name == ".a.mkv.3.cacherr-tmp"


@pytest.mark.parametrize("mode", ["union", "symlink"])
async def test_the_longest_cacheable_name_caches_and_restores(
    db: Database, mapping: Mapping, options: ProtocolOptions, mode: str
) -> None:
    options = ProtocolOptions(**{**options.__dict__, "mode": mode})
    loc = locate(mapping, f"Show/{LONGEST}")
    data = media_bytes(700_000)
    put_media(loc, data)

    assert (await cache_file(db, loc, options)).result == "done"
    await assert_consistent(db, loc, data, cached=True)
    assert (await restore_file(db, loc, options)).result == "done"
    await assert_consistent(db, loc, data, cached=False)


async def test_a_name_too_long_for_its_backup_fails_alone(
    db: Database, mapping: Mapping, options: ProtocolOptions
) -> None:
    long = locate(mapping, f"Show/{TOO_LONG}")
    put_media(long, media_bytes(1000))
    outcome = await cache_file(db, long, options)
    assert outcome.result == "failed"
    assert "too long" in (outcome.error or "")
    assert long.array_path.read_bytes() == media_bytes(1000)
    running = await db.fetchall("SELECT id FROM operations WHERE state = 'running'")
    assert running == []

    # The next file is not refused because of it.
    other = locate(mapping, "Show/Show - S01E03.mkv")
    put_media(other, media_bytes(2000, seed=3))
    assert (await cache_file(db, other, options)).result == "done"


async def test_the_audit_ties_a_shortened_stray_temp_to_its_file(
    db: Database, mapping: Mapping
) -> None:
    loc = locate(mapping, f"Show/{LONGEST}")
    put_media(loc, media_bytes(100))
    stray = names.temp_path(loc.cache_path, 77)
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"half a copy")
    resolver = PathResolver([mapping])

    [finding] = scan(resolver).findings
    assert (finding.kind, finding.fix) == (FindingKind.STRAY_TEMP, FixAction.REMOVE_TEMP)
    result = await apply_fix(finding, resolver=resolver, db=db)

    assert result.ok, result.message
    assert not stray.exists() and loc.array_path.exists()
