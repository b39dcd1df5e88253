"""Start-up recovery: every operation a crash left `running` is finished or undone.

Run it once at start-up, before the executor takes any work. Afterwards each managed file
exists once under its own name on the side users see (the array name, or the union serving
the cache copy), with the original's bytes; no temp file is left; and the database agrees:
a `cached` row for each file that serves from the cache, none for the others.

The journal's step says how far an operation got; it is written before the step acts, so
the step's action may or may not have happened, and each action below is safe either way.
Recovery needs no settings: the mode of a cache operation shows in its step names, and the
paths are the journal's own (what was touched, even if the mappings changed since).

| kind    | step           | what may be on disk                    | recovery                    |
| ------- | -------------- | -------------------------------------- | --------------------------- |
| cache   | planned        | nothing changed (maybe a `caching` row) | back: drop the row         |
| cache   | mkdir          | some new, empty cache folders          | back: remove them, drop row |
| cache   | copying        | a partial temp on the cache            | back: unlink it, folders    |
| cache   | verifying      | a complete temp on the cache           | back: unlink it, folders    |
| cache   | publishing     | the temp, or the copy under its name   | back: unlink it, folders    |
| cache   | hiding         | original at its name or `.plexcached`  | forward: rename it aside    |
| cache   | backing_up     | original; maybe its `.plexcached` link | forward: link, symlink over |
| cache   | linking        | link; original or symlink at the name  | forward: symlink over       |
| restore | planned        | nothing changed                        | back: the file stays cached |
| restore | copying_back   | a partial temp on the array            | back: unlink it             |
| restore | verifying_back | a complete temp on the array           | back: unlink it             |
| restore | returning      | `.plexcached`, or original at its name | forward: rename, release    |
| restore | replacing      | the temp, or the copy at the name      | forward: rename, release    |
| restore | releasing      | original back; cache copy maybe        | forward: release            |

A batch of small files (`batch`) journals its operations straight at `copying`, with their
`caching` rows and temp names, in one commit; each of its rows is recovered by this table.

"Back" ends `rolled_back` with no `caching` row left; "forward" ends `done`, a cache
operation with its row `cached`, a restore with its row deleted. "Release" unlinks the
cache copy, removes the folders Cacherr created that are now empty, and (replacing) the
outdated `.plexcached`.

"Forward" from a published cache step first checks the original still matches the copy
(size and mtime); if it changed meanwhile, the operation is undone instead. An operation
whose files match none of these states is marked `failed` with the reason and left for
the audit and a person; nothing is deleted on a guess.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cacherr.config.models import Mapping
from cacherr.db import Database
from cacherr.errors import CacherrError, DatabaseUnwritable
from cacherr.files import names
from cacherr.files.caching import PUBLISHED_STEPS
from cacherr.files.journal import Journal, ManagedFile, OperationRow
from cacherr.files.model import BACKING_UP, CACHING, HIDING, LINKING, REPLACING, RETURNING
from cacherr.files.ondisk import (
    UnexpectedState,
    is_regular,
    lstat_or_none,
    put_back,
    redo_cache,
    release,
    remove_empty_dirs,
    replace_from_temp,
    undo_cache,
    unlink_quiet,
)
from cacherr.files.restoring import COMMITTED_STEPS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recovered:
    """What recovery did with one unfinished operation."""

    op_id: int
    kind: str
    path: str
    step: str
    action: Literal["rolled_back", "rolled_forward", "failed"]
    error: str | None = None


@dataclass(frozen=True)
class JournalLocation:
    """A file located by the journal's own absolute paths (a `FileLocation`)."""

    mapping: Mapping
    rel: str
    plex_path: str
    array_path: Path
    cache_path: Path
    backup_path: Path

    @classmethod
    def of(cls, row: OperationRow, managed: ManagedFile | None) -> JournalLocation:
        """The location an operation row names."""
        depth = len(Path(row.rel_path).parts)
        array_root, cache_root = (
            row.array_path.parents[depth - 1],
            row.cache_path.parents[depth - 1],
        )
        mapping = Mapping(name=row.mapping, plex="/", array=str(array_root), cache=str(cache_root))
        return cls(
            mapping=mapping,
            rel=row.rel_path,
            plex_path=managed.plex_path if managed is not None else row.rel_path,
            array_path=row.array_path,
            cache_path=row.cache_path,
            backup_path=names.backup_path(row.array_path),
        )


async def recover(
    db: Database, *, only: Collection[tuple[str, str]] | None = None
) -> list[Recovered]:
    """Finish or undo every unfinished operation; returns what was done, oldest first.

    `only` limits it to these files, as (mapping, relative path): operations that stopped
    while Cacherr runs on, whose files nothing else touches (the engine holds them in flight).
    """
    journal = Journal(db)
    done: list[Recovered] = []
    for row in await journal.running():
        if only is not None and (row.mapping, row.rel_path) not in only:
            continue
        managed = await journal.managed(row.mapping, row.rel_path)
        loc = JournalLocation.of(row, managed)
        try:
            if row.kind == "cache":
                action = await _recover_cache(journal, row, loc, managed)
            else:
                action = await _recover_restore(journal, row, loc, managed)
        except DatabaseUnwritable:
            raise  # the journal cannot say what was done: leave the row for the next try
        except (OSError, CacherrError) as exc:
            error = f"recovery at step {row.step}: {exc}"
            log.error("Could not recover operation %d on %s: %s", row.id, row.array_path, error)
            await journal.finish(row.id, "failed", error=error)
            done.append(Recovered(row.id, row.kind, str(row.array_path), row.step, "failed", error))
            continue
        log.warning(
            "Recovered %s of %s from step %s: %s", row.kind, row.array_path, row.step, action
        )
        done.append(Recovered(row.id, row.kind, str(row.array_path), row.step, action))
    return done


async def _recover_cache(
    journal: Journal, row: OperationRow, loc: JournalLocation, managed: ManagedFile | None
) -> Literal["rolled_back", "rolled_forward"]:
    symlink_temp = names.temp_path(loc.array_path, row.id)
    if row.step in (HIDING, BACKING_UP, LINKING):
        try:
            copy = await asyncio.to_thread(redo_cache, row.step, loc, symlink_temp)
        except UnexpectedState as exc:
            log.warning("Undoing caching %s instead: %s", loc.array_path, exc)
        else:
            await journal.complete_cache(
                row.id, row.mapping, row.rel_path, size_bytes=copy.size_bytes,
                mtime_ns=copy.mtime_ns, fingerprint=copy.fingerprint,
            )  # fmt: skip
            return "rolled_forward"
    published = row.step in PUBLISHED_STEPS
    await asyncio.to_thread(
        undo_cache, row.step, loc, row.temp_path, symlink_temp, published=published
    )
    if managed is not None and managed.state == CACHING:
        await asyncio.to_thread(remove_empty_dirs, managed.created_dirs)
    await journal.abandon_cache(
        row.id, row.mapping, row.rel_path, "rolled_back", error="interrupted; rolled back"
    )
    return "rolled_back"


async def _recover_restore(
    journal: Journal, row: OperationRow, loc: JournalLocation, managed: ManagedFile | None
) -> Literal["rolled_back", "rolled_forward"]:
    if row.step not in COMMITTED_STEPS:
        await asyncio.to_thread(unlink_quiet, row.temp_path)
        await journal.finish(row.id, "rolled_back", error="interrupted; rolled back")
        return "rolled_back"
    if managed is None:
        raise UnexpectedState("its managed-files row is gone")
    await asyncio.to_thread(_forward_restore, row, loc)
    kept = await asyncio.to_thread(release, loc, managed.created_dirs)
    await journal.complete_restore(row.id, managed, Path(loc.mapping.cache), kept)
    return "rolled_forward"


def _forward_restore(row: OperationRow, loc: JournalLocation) -> None:
    """Blocking: redo the returning/replacing step if it did not happen.

    Whether it happened is told by the name it moves (the backup, the temp): a file that
    took the array name meanwhile is kept, and `put_back` / `replace_from_temp` refuse.
    """
    back = is_regular(lstat_or_none(loc.array_path))
    if row.step == RETURNING:
        if lstat_or_none(loc.backup_path) is not None:
            put_back(loc)
        elif not back:
            raise UnexpectedState(f"neither {loc.array_path} nor its backup exists")
    elif row.step == REPLACING:
        if row.temp_path is not None and lstat_or_none(row.temp_path) is not None:
            replace_from_temp(loc, row.temp_path)  # also finishes a half-done name swap
        elif back:
            unlink_quiet(loc.backup_path)
        else:
            raise UnexpectedState(f"neither {loc.array_path} nor its copy-back temp exists")
