"""The audit and its fixes on real folders and a real state database."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from cacherr.config.models import Mapping
from cacherr.db import Database
from cacherr.files.audit import (
    AuditReport,
    Finding,
    FindingKind,
    FixAction,
    audit,
    scan,
    temp_final,
)
from cacherr.files.audit_fix import FixResult, apply_fix, apply_fixes, same_bytes
from cacherr.files.paths import Location, PathResolver

BIG = 2 * 2**20  # beyond the sampled span, so blocks are spread over the file


class Tree:
    """The tv mapping's two roots, as /mnt/user0 and /mnt/cache would hold them."""

    def __init__(self, tmp_path: Path) -> None:
        self.array = tmp_path / "mnt" / "user0" / "media" / "tv"
        self.cache = tmp_path / "mnt" / "cache" / "media" / "tv"
        self.array.mkdir(parents=True)
        self.cache.mkdir(parents=True)
        self.mapping = Mapping(
            name="tv", plex="/data/tv", array=str(self.array), cache=str(self.cache)
        )

    def put(self, side: str, rel: str, data: bytes = b"media") -> Path:
        path = (self.array if side == "array" else self.cache) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    return Tree(tmp_path)


@pytest.fixture
def resolver(tree: Tree, tmp_path: Path) -> PathResolver:
    remote = Mapping(
        name="nas", plex="/nas", array=str(tmp_path / "nas"), cache=str(tmp_path / "x"),
        cacheable=False,
    )  # fmt: skip
    return PathResolver([tree.mapping, remote])


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "cacherr.db")
    yield database
    await database.close()


def by_rel(report: AuditReport) -> dict[str, Finding]:
    return {f.rel: f for f in report.findings}


def test_scan_finds_every_kind(tree: Tree, resolver: PathResolver, tmp_path: Path) -> None:
    tree.put("array", "A/a.mkv.plexcached")
    tree.put("cache", "A/a.mkv")
    tree.put("array", "M/m.mkv.plexcached")  # managed: the journal's business
    tree.put("cache", "M/m.mkv")
    tree.put("array", "D/d.mkv")
    tree.put("cache", "D/d.mkv")
    tree.put("array", "B/b.mkv")  # busy: an operation is between its renames
    tree.put("cache", "B/b.mkv")
    tree.put("array", "O/o.mkv.plexcached")
    tree.put("array", "C/c.mkv")
    tree.put("array", "C/c.mkv.plexcached")
    tree.put("array", "K/k.mkv")
    tree.put("array", "K/k.mkv.plexcached")
    tree.put("cache", "K/k.mkv")
    tree.put("cache", "D/.d.mkv.7.cacherr-tmp")
    tree.put("array", "X/.x.mkv.3.cacherr-tmp")
    active = tree.put("cache", "A/.a.mkv.9.cacherr-tmp")
    tree.put("array", "only-array.mkv")
    tree.put("cache", "only-cache.mkv")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "z.mkv.plexcached").write_bytes(b"")
    (tree.array / "L").symlink_to(outside)  # never followed
    os.mkfifo(tree.cache / "fifo")  # neither file, folder nor symlink: ignored

    report = scan(
        resolver,
        managed={("tv", "M/m.mkv")},
        busy=[("tv", "B/b.mkv")],
        active_temps=[active],
    )
    found = {f.rel: (f.kind, f.fix, f.side) for f in report.findings}
    assert found == {
        "A/a.mkv": (FindingKind.ADOPTABLE, FixAction.ADOPT, None),
        "D/d.mkv": (FindingKind.DUPLICATE, FixAction.ADOPT_DUPLICATE, None),
        "O/o.mkv": (FindingKind.ORPHAN_BACKUP, FixAction.RESTORE_BACKUP, None),
        "C/c.mkv": (FindingKind.BACKUP_CONFLICT, FixAction.NONE, None),
        "K/k.mkv": (FindingKind.BACKUP_CONFLICT, FixAction.NONE, None),
        "D/.d.mkv.7.cacherr-tmp": (FindingKind.STRAY_TEMP, FixAction.REMOVE_TEMP, "cache"),
        "X/.x.mkv.3.cacherr-tmp": (FindingKind.STRAY_TEMP, FixAction.NONE, "array"),
    }
    findings = by_rel(report)
    assert [(p.role, p.size_bytes) for p in findings["A/a.mkv"].paths] == [
        ("backup", 5),
        ("cache", 5),
    ]
    assert [p.role for p in findings["K/k.mkv"].paths] == ["array", "backup", "cache"]
    assert findings["D/d.mkv"].paths[0].path == str(tree.array / "D/d.mkv")
    assert "kept for a person" in findings["X/.x.mkv.3.cacherr-tmp"].explanation
    assert all(f.explanation.endswith(".") for f in report.findings)
    assert report.counts() == {
        "adoptable": 1,
        "duplicate": 1,
        "orphan_backup": 1,
        "backup_conflict": 2,
        "stray_temp": 2,
    }
    assert report.files_scanned > 20
    assert report.errors == ()
    data = json.loads(json.dumps(report.to_dict()))
    assert data["findings"][0]["kind"] == "adoptable"


def test_unlistable_roots_and_refused_names_are_reported(tmp_path: Path) -> None:
    tree = Tree(tmp_path)
    tree.put("array", "N/bad\nname.mkv")
    tree.put("cache", "N/bad\nname.mkv")
    gone = Mapping(name="gone", plex="/gone", array=str(tmp_path / "g1"), cache=str(tree.cache))
    report = scan(PathResolver([tree.mapping, gone]))
    assert any("cannot list" in e and "g1" in e for e in report.errors)
    assert any("skipped 'N/bad\\nname.mkv'" in e for e in report.errors)


def test_temp_final() -> None:
    assert temp_final("S/.a.mkv.12.cacherr-tmp") == "S/a.mkv"
    assert temp_final(".a.mkv.1.cacherr-tmp") == "a.mkv"
    assert temp_final("S/.a.mkv.cacherr-tmp") is None


def test_scan_of_many_files_is_quick(tree: Tree, resolver: PathResolver) -> None:
    for show in range(30):
        folder = tree.array / f"Show {show}"
        folder.mkdir()
        for episode in range(100):
            (folder / f"e{episode}.mkv").write_bytes(b"")
    report = scan(resolver)
    assert report.findings == ()
    assert report.files_scanned == 3030
    assert report.duration_s < 2


async def test_audit_leaves_out_managed_files(
    tree: Tree, resolver: PathResolver, db: Database
) -> None:
    tree.put("array", "A/a.mkv.plexcached")
    tree.put("cache", "A/a.mkv")
    assert [f.rel for f in (await audit(db, resolver)).findings] == ["A/a.mkv"]
    await apply_fixes((await audit(db, resolver)).findings, resolver=resolver, db=db)
    assert (await audit(db, resolver)).findings == ()


async def rows(db: Database) -> dict[str, dict[str, object]]:
    found = await db.fetchall("SELECT * FROM managed_files")
    return {str(r["rel_path"]): dict(r) for r in found}


async def test_adopt_records_media_and_sidecars(
    tree: Tree, resolver: PathResolver, db: Database
) -> None:
    for rel in ("A/a.mkv", "A/a.en.srt", "A/a-poster.jpg", "B/b.nfo", "c.en.srt", "c.mkv"):
        tree.put("array", rel + ".plexcached")
        tree.put("cache", rel, b"x" * len(rel))
    tree.put("array", "A/other.mkv.plexcached")
    tree.put("cache", "A/other.mkv")
    findings = scan(resolver).findings
    assert [f.rel for f in findings][:2] == ["A/a-poster.jpg", "A/a.en.srt"]  # sidecars first
    results = await apply_fixes(findings, resolver=resolver, db=db)
    assert all(r.ok for r in results), results
    assert results[0].message.endswith("is now managed by Cacherr")
    managed = await rows(db)
    media = managed["A/a.mkv"]
    assert media["plex_path"] == "/data/tv/A/a.mkv"
    assert (media["has_backup"], media["adopted"], media["state"]) == (1, 1, "cached")
    assert media["size_bytes"] == len("A/a.mkv")
    assert media["mtime_ns"] == (tree.cache / "A/a.mkv").stat().st_mtime_ns
    assert media["fingerprint"] is None
    assert media["parent_id"] is None
    assert managed["A/a.en.srt"]["parent_id"] == media["id"]
    assert managed["A/a-poster.jpg"]["parent_id"] == media["id"]
    assert managed["B/b.nfo"]["parent_id"] is None
    assert managed["c.en.srt"]["parent_id"] == managed["c.mkv"]["id"]
    # Files are not touched by an adoption.
    assert (tree.array / "A/a.mkv.plexcached").exists()
    # Adopting the same findings again changes nothing.
    again = await apply_fixes([r.finding for r in results], resolver=resolver, db=db)
    assert all(r.ok for r in again)
    assert await rows(db) == managed


def fix(finding: Finding, **kw: object) -> Finding:
    fields = {**finding.__dict__, **kw}
    return Finding(**fields)  # type: ignore[arg-type]


async def test_adopt_refuses_when_the_files_changed(
    tree: Tree, resolver: PathResolver, db: Database
) -> None:
    tree.put("array", "a.mkv.plexcached")
    cache = tree.put("cache", "a.mkv")
    [finding] = scan(resolver).findings
    original = tree.put("array", "a.mkv")
    result = await apply_fix(finding, resolver=resolver, db=db)
    assert (result.ok, "exists beside its backup" in result.message) == (False, True)
    original.unlink()
    cache.unlink()
    result = await apply_fix(finding, resolver=resolver, db=db)
    assert (result.ok, "changed since the audit" in result.message) == (False, True)
    assert await rows(db) == {}


async def test_adopt_in_symlink_mode(tree: Tree, resolver: PathResolver, db: Database) -> None:
    tree.put("array", "S/s.mkv.plexcached")
    cache = tree.put("cache", "S/s.mkv")
    (tree.array / "S/s.mkv").symlink_to(cache)
    [finding] = scan(resolver).findings
    assert finding.kind is FindingKind.ADOPTABLE
    assert (await apply_fix(finding, resolver=resolver, db=db, mode="symlink")).ok


async def test_adopt_duplicate_union(tree: Tree, resolver: PathResolver, db: Database) -> None:
    data = os.urandom(BIG)
    tree.put("array", "D/d.mkv", data)
    tree.put("cache", "D/d.mkv", data)
    [finding] = scan(resolver).findings
    result = await apply_fix(finding, resolver=resolver, db=db)
    assert result.ok, result.message
    assert not (tree.array / "D/d.mkv").exists()
    assert (tree.array / "D/d.mkv.plexcached").read_bytes() == data
    assert (tree.cache / "D/d.mkv").read_bytes() == data
    assert (await rows(db))["D/d.mkv"]["adopted"] == 1
    assert sorted(p.name for p in (tree.array / "D").iterdir()) == ["d.mkv.plexcached"]


async def test_adopt_duplicate_symlink_mode(
    tree: Tree, resolver: PathResolver, db: Database
) -> None:
    tree.put("array", "D/d.mkv")
    cache = tree.put("cache", "D/d.mkv")
    [finding] = scan(resolver).findings
    tree.put("array", "D/.d.mkv.0.cacherr-tmp")  # a leftover of an earlier attempt
    result = await apply_fix(finding, resolver=resolver, db=db, mode="symlink")
    assert result.ok, result.message
    link = tree.array / "D/d.mkv"
    assert link.is_symlink()
    assert link.resolve() == cache.resolve()
    assert (tree.array / "D/d.mkv.plexcached").read_bytes() == b"media"
    assert sorted(p.name for p in (tree.array / "D").iterdir()) == ["d.mkv", "d.mkv.plexcached"]


@pytest.mark.parametrize(
    ("array_data", "cache_data"),
    [
        (b"a" * BIG, b"a" * (BIG - 1) + b"b"),  # last block differs
        (b"a" * BIG, b"a" * (BIG + 1)),  # sizes differ
        (b"abc", b"abd"),  # small files
        # One byte between the sampled blocks: only a full compare sees it (issue 14, item 2).
        (b"a" * BIG, b"a" * 100_000 + b"b" + b"a" * (BIG - 100_001)),
    ],
)
async def test_adopt_duplicate_refuses_differing_copies(
    tree: Tree, resolver: PathResolver, db: Database, array_data: bytes, cache_data: bytes
) -> None:
    tree.put("array", "d.mkv", array_data)
    tree.put("cache", "d.mkv", cache_data)
    [finding] = scan(resolver).findings
    result = await apply_fix(finding, resolver=resolver, db=db)
    assert not result.ok
    assert "differ, so neither is touched" in result.message
    assert (tree.array / "d.mkv").read_bytes() == array_data
    assert await rows(db) == {}


async def test_adopt_duplicate_refuses_changed_files(
    tree: Tree, resolver: PathResolver, db: Database
) -> None:
    array = tree.put("array", "d.mkv")
    tree.put("cache", "d.mkv")
    [finding] = scan(resolver).findings
    backup = tree.put("array", "d.mkv.plexcached", b"older")
    assert "already exists" in (await apply_fix(finding, resolver=resolver, db=db)).message
    backup.unlink()
    array.unlink()
    assert "changed since" in (await apply_fix(finding, resolver=resolver, db=db)).message


async def test_restore_backup(tree: Tree, resolver: PathResolver, db: Database) -> None:
    tree.put("array", "O/o.mkv.plexcached", b"orig")
    [finding] = scan(resolver).findings
    result = await apply_fix(finding, resolver=resolver, db=db)
    assert result.ok
    assert (tree.array / "O/o.mkv").read_bytes() == b"orig"
    assert not (tree.array / "O/o.mkv.plexcached").exists()


async def test_restore_backup_over_a_dangling_symlink(
    tree: Tree, resolver: PathResolver, db: Database
) -> None:
    tree.put("array", "o.mkv.plexcached", b"orig")
    (tree.array / "o.mkv").symlink_to(tree.cache / "o.mkv")
    [finding] = scan(resolver).findings
    assert finding.kind is FindingKind.ORPHAN_BACKUP
    assert (await apply_fix(finding, resolver=resolver, db=db)).ok
    assert not (tree.array / "o.mkv").is_symlink()
    assert (tree.array / "o.mkv").read_bytes() == b"orig"


async def test_restore_backup_refuses_when_files_reappear(
    tree: Tree, resolver: PathResolver, db: Database
) -> None:
    tree.put("array", "o.mkv.plexcached", b"orig")
    [finding] = scan(resolver).findings
    original = tree.put("array", "o.mkv", b"new")
    assert "exists again" in (await apply_fix(finding, resolver=resolver, db=db)).message
    original.unlink()
    tree.put("cache", "o.mkv")
    assert "changed since" in (await apply_fix(finding, resolver=resolver, db=db)).message
    assert (tree.array / "o.mkv.plexcached").read_bytes() == b"orig"


async def test_remove_temp(tree: Tree, resolver: PathResolver, db: Database) -> None:
    tree.put("array", "S/s.mkv")
    temp = tree.put("cache", "S/.s.mkv.4.cacherr-tmp")
    [finding] = scan(resolver).findings
    refused = await apply_fix(finding, resolver=resolver, db=db, active_temps=[temp])
    assert "running operation" in refused.message
    assert temp.exists()
    assert (await apply_fix(finding, resolver=resolver, db=db)).ok
    assert not temp.exists()
    assert "changed since" in (await apply_fix(finding, resolver=resolver, db=db)).message


async def test_remove_temp_keeps_a_last_copy(
    tree: Tree, resolver: PathResolver, db: Database
) -> None:
    temp = tree.put("array", ".lonely.mkv.2.cacherr-tmp")
    [finding] = scan(resolver).findings
    assert finding.fix is FixAction.NONE
    forced = fix(finding, fix=FixAction.REMOVE_TEMP)
    result = await apply_fix(forced, resolver=resolver, db=db)
    assert "no other copy" in result.message
    assert temp.exists()


async def test_forged_findings_are_refused(
    tree: Tree, resolver: PathResolver, db: Database, tmp_path: Path
) -> None:
    media = tree.put("array", "a.mkv")
    (tmp_path / "nas").mkdir()
    base = Finding(FindingKind.STRAY_TEMP, "tv", "a.mkv", (), "", FixAction.REMOVE_TEMP, "array")
    cases: list[tuple[Finding, str]] = [
        (base, "not one of Cacherr's temp files"),
        (fix(base, side=None), "which side"),
        (fix(base, rel="../../../etc/passwd"), "does not name a file"),
        (fix(base, mapping="nas", fix=FixAction.ADOPT), "cacheable: false"),
        (fix(base, mapping="nas", fix=FixAction.ADOPT_DUPLICATE), "cacheable: false"),
        (fix(base, kind=FindingKind.BACKUP_CONFLICT, fix=FixAction.NONE), "needs a person"),
    ]
    tree.put("array", ".dir.mkv.1.cacherr-tmp/inside")
    cases.append((fix(base, rel=".dir.mkv.1.cacherr-tmp"), "changed since"))
    for finding, message in cases:
        result = await apply_fix(finding, resolver=resolver, db=db)
        assert isinstance(result, FixResult)
        assert not result.ok
        assert message in result.message, (finding, result.message)
    assert media.exists()


def test_same_bytes(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"")
    b.write_bytes(b"")
    assert same_bytes(a, b)
    data = os.urandom(BIG)
    a.write_bytes(data)
    b.write_bytes(data)
    assert same_bytes(a, b)
    b.write_bytes(b"\0" + data[1:])
    assert not same_bytes(a, b)


async def test_adopting_a_duplicate_compares_every_byte_with_progress(
    tree: Tree, resolver: PathResolver, db: Database
) -> None:
    data = os.urandom(BIG * 5)
    tree.put("array", "D/d.mkv", data)
    tree.put("cache", "D/d.mkv", data)
    [finding] = scan(resolver).findings
    told: list[tuple[str, int, int]] = []

    def progress(loc: Location) -> Callable[[int, int], None]:
        return lambda done, size: told.append((loc.rel, done, size))

    result = await apply_fix(finding, resolver=resolver, db=db, progress=progress)

    assert result.ok, result.message
    assert len(told) > 1
    assert told[-1] == ("D/d.mkv", len(data), len(data))
    assert [done for _, done, _ in told] == sorted(done for _, done, _ in told)
