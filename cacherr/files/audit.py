"""The audit: what already lies in the mapped folders that Cacherr does not manage yet.

It finds `.plexcached` backups of earlier PlexCache installs with their cache copies (to
adopt), duplicates (the same file on cache and array, which Unraid's Fix Common Problems
flags), orphaned or conflicting backups and stray temp files. Files Cacherr already manages,
or that a running operation is working on, are left to the journal and recovery.
The fixes live in `cacherr.files.audit_fix`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from cacherr.db import Database
from cacherr.errors import PathRefused
from cacherr.files import names
from cacherr.files.paths import PathResolver

Side = Literal["array", "cache"]
Role = Literal["array", "cache", "backup", "temp"]


class FindingKind(StrEnum):
    """What the audit found."""

    ADOPTABLE = "adoptable"
    DUPLICATE = "duplicate"
    ORPHAN_BACKUP = "orphan_backup"
    BACKUP_CONFLICT = "backup_conflict"
    STRAY_TEMP = "stray_temp"


class FixAction(StrEnum):
    """What `apply_fix` does about a finding."""

    ADOPT = "adopt"  # record the backup and cache copy as a managed file
    ADOPT_DUPLICATE = "adopt_duplicate"  # if identical: array copy → backup name, then adopt
    RESTORE_BACKUP = "restore_backup"  # give the backup its name back
    REMOVE_TEMP = "remove_temp"  # delete a half-written copy
    NONE = "none"  # a person has to decide


@dataclass(frozen=True)
class FoundPath:
    """One file involved in a finding."""

    role: Role
    path: str
    size_bytes: int


@dataclass(frozen=True)
class Finding:
    """One thing the audit found, with what it means and how it can be fixed.

    `rel` is the media file's path relative to the mapping roots; for a stray temp file it
    is the temp file's own, and `side` says under which root it lies.
    """

    kind: FindingKind
    mapping: str
    rel: str
    paths: tuple[FoundPath, ...]
    explanation: str
    fix: FixAction
    side: Side | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form for the API and the page."""
        return asdict(self)


@dataclass(frozen=True)
class AuditReport:
    """Everything one audit found."""

    findings: tuple[Finding, ...]
    files_scanned: int
    errors: tuple[str, ...] = ()
    duration_s: float = 0.0

    def counts(self) -> dict[str, int]:
        """How many findings of each kind (every kind present, zeros included)."""
        return {kind.value: sum(f.kind == kind for f in self.findings) for kind in FindingKind}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form for the API and the page."""
        return {
            "findings": [f.to_dict() for f in self.findings],
            "counts": self.counts(),
            "files_scanned": self.files_scanned,
            "errors": list(self.errors),
            "duration_s": self.duration_s,
        }


@dataclass
class _Tree:
    files: set[str] = field(default_factory=set)  # regular files, Cacherr's temps excluded
    links: set[str] = field(default_factory=set)
    temps: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    count: int = 0


def _walk(root: str) -> _Tree:
    """Every entry under `root` by relative path; symlinked folders are not followed."""
    tree = _Tree()
    pending = [""]
    while pending:
        rel_dir = pending.pop()
        folder = os.path.join(root, rel_dir)
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
                    tree.count += 1
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(rel)
                    elif names.is_temp(entry.name):
                        tree.temps.append(rel)
                    elif entry.is_symlink():
                        tree.links.add(rel)
                    elif entry.is_file(follow_symlinks=False):
                        tree.files.add(rel)
        except OSError as exc:
            tree.errors.append(f"cannot list {folder}: {exc.strerror or exc}")
    return tree


def temp_final(rel: str, siblings: Iterable[str] = ()) -> str | None:
    """The file a temp file was going to become (relative path), or None.

    `siblings` are the names beside the temp file (a shortened temp name is found among
    them; see `names.temp_final_name`).
    """
    head, _, name = rel.rpartition("/")
    final = names.temp_final_name(name, siblings)
    if final is None:
        return None
    return f"{head}/{final}" if head else final


def _siblings(rel: str, *trees: _Tree) -> list[str]:
    """Names in the folder of `rel` on either side (backups under their media's name)."""
    folder = rel.rpartition("/")[0]
    found = []
    for tree in trees:
        for other in (*tree.files, *tree.links):
            head, _, name = other.rpartition("/")
            if head == folder:
                found.append(name.removesuffix(names.BACKUP_SUFFIX))
    return found


def _size(path: Path) -> int:
    try:
        return os.lstat(path).st_size
    except OSError:
        return 0


def _found(role: Role, path: Path) -> FoundPath:
    return FoundPath(role=role, path=str(path), size_bytes=_size(path))


def scan(
    resolver: PathResolver,
    *,
    managed: Collection[tuple[str, str]] = (),
    busy: Collection[tuple[str, str]] = (),
    active_temps: Collection[Path] = (),
) -> AuditReport:
    """Audit every cacheable mapping. Blocking (walks whole trees): run it in a thread.

    `managed` and `busy` are (mapping, rel) pairs of managed files and of files running
    operations work on; `active_temps` the temp paths running operations write.
    """
    started = time.monotonic()
    findings: list[Finding] = []
    errors: list[str] = []
    scanned = 0
    active = {os.path.normpath(p) for p in active_temps}
    skip = set(managed) | set(busy)
    for mapping in resolver.mappings:
        if not mapping.cacheable:
            continue
        array, cache = _walk(mapping.array), _walk(mapping.cache)
        scanned += array.count + cache.count
        errors += array.errors + cache.errors
        name = mapping.name
        backups = {
            rel.removesuffix(names.BACKUP_SUFFIX) for rel in array.files if names.is_backup(rel)
        }
        for rel in sorted(backups):
            if (name, rel) not in skip:
                _add(errors, findings, _backup_finding, resolver, name, rel, array, cache)
        for rel in sorted(cache.files & array.files):
            if (name, rel) not in skip and rel not in backups and not names.is_backup(rel):
                _add(errors, findings, _duplicate_finding, resolver, name, rel)
        sides: tuple[tuple[Side, str, _Tree], ...] = (
            ("array", mapping.array, array),
            ("cache", mapping.cache, cache),
        )
        for side, root, tree in sides:
            for rel in sorted(tree.temps):
                if os.path.normpath(Path(root) / rel) not in active:
                    findings.append(_temp_finding(name, rel, side, Path(root), array, cache))
    return AuditReport(
        findings=tuple(findings),
        files_scanned=scanned,
        errors=tuple(errors),
        duration_s=round(time.monotonic() - started, 3),
    )


def _add(
    errors: list[str],
    findings: list[Finding],
    make: Callable[..., Finding],
    resolver: PathResolver,
    name: str,
    rel: str,
    *args: _Tree,
) -> None:
    # A name the resolver refuses (a newline in it, say) is reported, never acted on.
    try:
        findings.append(make(resolver, name, rel, *args))
    except PathRefused as exc:
        errors.append(f"skipped {rel!r} of mapping {name!r}: {exc.message}")


def _duplicate_finding(resolver: PathResolver, name: str, rel: str) -> Finding:
    loc = resolver.from_rel(name, rel)
    return Finding(
        kind=FindingKind.DUPLICATE,
        mapping=name,
        rel=rel,
        paths=(_found("array", loc.array_path), _found("cache", loc.cache_path)),
        explanation="The file is on both the cache and the array under the same name, which "
        "Unraid's Fix Common Problems flags; adopting it renames the array copy to "
        ".plexcached if both hold the same bytes.",
        fix=FixAction.ADOPT_DUPLICATE,
    )


def _backup_finding(
    resolver: PathResolver, name: str, rel: str, array: _Tree, cache: _Tree
) -> Finding:
    loc = resolver.from_rel(name, rel)
    backup = _found("backup", loc.backup_path)
    if rel in array.files:
        paths = [_found("array", loc.array_path), backup]
        if rel in cache.files:
            paths.append(_found("cache", loc.cache_path))
        return Finding(
            kind=FindingKind.BACKUP_CONFLICT,
            mapping=name,
            rel=rel,
            paths=tuple(paths),
            explanation="The array holds both the original and a .plexcached backup of it, so "
            "only a person can tell which one is current and remove the other.",
            fix=FixAction.NONE,
        )
    if rel in cache.files:
        return Finding(
            kind=FindingKind.ADOPTABLE,
            mapping=name,
            rel=rel,
            paths=(backup, _found("cache", loc.cache_path)),
            explanation="An earlier PlexCache install cached this file (the original waits as "
            ".plexcached and the copy serves from the cache), so Cacherr can take it over.",
            fix=FixAction.ADOPT,
        )
    return Finding(
        kind=FindingKind.ORPHAN_BACKUP,
        mapping=name,
        rel=rel,
        paths=(backup,),
        explanation="The original was renamed to .plexcached but its cache copy is gone, so "
        "Plex cannot see the file until the backup gets its name back.",
        fix=FixAction.RESTORE_BACKUP,
    )


def _temp_finding(
    name: str, rel: str, side: Side, root: Path, array: _Tree, cache: _Tree
) -> Finding:
    final = temp_final(rel, _siblings(rel, array, cache))
    twin = final is not None and (
        final in array.files
        or final in array.links
        or final in cache.files
        or final + names.BACKUP_SUFFIX in array.files
    )
    if twin:
        explanation = (
            "A half-written copy left by an interrupted operation; the file itself is still "
            "there, so it can be removed."
        )
    else:
        explanation = (
            f"A half-written copy left by an interrupted operation, but no other copy of "
            f"{final or rel} was found, so it is kept for a person to check."
        )
    return Finding(
        kind=FindingKind.STRAY_TEMP,
        mapping=name,
        rel=rel,
        paths=(_found("temp", root / rel),),
        explanation=explanation,
        fix=FixAction.REMOVE_TEMP if twin else FixAction.NONE,
        side=side,
    )


@dataclass(frozen=True)
class Recorded:
    """What a database file says Cacherr holds: the files it manages, the files of operations
    not finished yet (running now, or left to start-up recovery) and those operations' temps."""

    managed: frozenset[tuple[str, str]] = frozenset()
    busy: frozenset[tuple[str, str]] = frozenset()
    temps: tuple[Path, ...] = ()


def read_recorded(db_path: Path) -> Recorded:
    """Read `db_path` read-only, whether the daemon runs or not (blocking).

    A missing database records nothing; one that cannot be read raises `sqlite3.Error`.
    """
    if not db_path.exists():
        return Recorded()
    uri = f"{db_path.resolve().as_uri()}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=10)) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        if not {"managed_files", "operations"} <= tables:
            return Recorded()
        managed = conn.execute("SELECT mapping, rel_path FROM managed_files").fetchall()
        running = conn.execute(
            "SELECT id, kind, mapping, rel_path, array_path, temp_path FROM operations"
            " WHERE state = 'running'"
        ).fetchall()
    temps: list[Path] = []
    for op_id, kind, _, _, array_path, temp_path in running:
        if temp_path:
            temps.append(Path(temp_path))
        if kind == "cache":  # symlink mode's link is made under the array name's temp name
            temps.append(names.temp_path(Path(array_path), int(op_id)))
    return Recorded(
        managed=frozenset((str(m), str(r)) for m, r in managed),
        busy=frozenset((str(r[2]), str(r[3])) for r in running),
        temps=tuple(temps),
    )


async def managed_keys(db: Database) -> set[tuple[str, str]]:
    """(mapping, rel) of every file the database says Cacherr manages."""
    rows = await db.fetchall("SELECT mapping, rel_path FROM managed_files")
    return {(str(row[0]), str(row[1])) for row in rows}


async def audit(
    db: Database,
    resolver: PathResolver,
    *,
    busy: Collection[tuple[str, str]] = (),
    active_temps: Collection[Path] = (),
) -> AuditReport:
    """Scan the mappings off the event loop, leaving out files Cacherr already manages."""
    managed = await managed_keys(db)
    return await asyncio.to_thread(
        scan, resolver, managed=managed, busy=busy, active_temps=active_temps
    )
