"""The vocabulary of the on-disk protocol: locations, options, outcomes and step names.

Kept apart from the code that acts on disk so that the journal, the protocol, recovery and
the executor can share it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, Protocol

from cacherr.config.models import Mapping, Settings

Kind = Literal["cache", "restore"]
Result = Literal["done", "failed", "cancelled", "skipped"]
Mode = Literal["union", "symlink"]
VerifyHow = Literal["size", "sample", "full"]

# Copy granularity: one copy_file_range call, one cancel check and one progress report each.
CHUNK_BYTES: Final = 16 * 2**20
# A long copy, whatever its chunks: it runs on a thread of its own at a lower priority
# (`offload.run_bulk`) and is written out to the disk behind itself (`writeback`). A shorter
# one is done in a moment, and a batch's small copies share their fsyncs.
LONG_COPY_BYTES: Final = 16 * 2**20

# Steps of a cache operation, journaled BEFORE the action they name is taken.
PLANNED: Final = "planned"  # checks only; nothing on disk changes
SKIPPED: Final = "skipped"  # final step of an operation that decided not to act
MKDIR: Final = "mkdir"  # create the missing cache folders (recorded first)
COPYING: Final = "copying"  # array file -> hidden temp name on the cache
VERIFYING: Final = "verifying"  # compare temp with source
PUBLISHING: Final = "publishing"  # rename temp -> final cache name
HIDING: Final = "hiding"  # union: rename array original -> .plexcached
BACKING_UP: Final = "backing_up"  # symlink: hard link array original -> .plexcached
LINKING: Final = "linking"  # symlink: symlink to the cache copy replaces the array name
# Steps of a restore operation.
RETURNING: Final = "returning"  # rename .plexcached back over the array name
COPYING_BACK: Final = "copying_back"  # changed cache copy -> hidden temp name on the array
VERIFYING_BACK: Final = "verifying_back"
REPLACING: Final = "replacing"  # rename the temp over the array name, drop the old backup
RELEASING: Final = "releasing"  # unlink the cache copy, remove folders left empty

# managed_files.state while a file is on its way to the cache / once it serves from there.
CACHING: Final = "caching"
CACHED: Final = "cached"


class FileLocation(Protocol):
    """One file on both tiers (`cacherr.files.paths.Location` satisfies it)."""

    @property
    def mapping(self) -> Mapping: ...
    @property
    def rel(self) -> str: ...
    @property
    def plex_path(self) -> str: ...
    @property
    def array_path(self) -> Path: ...
    @property
    def cache_path(self) -> Path: ...
    @property
    def backup_path(self) -> Path: ...


@dataclass(frozen=True)
class ProtocolOptions:
    """The settings one operation runs with (read once when it starts)."""

    mode: Mode = "union"
    verify: VerifyHow = "sample"
    hardlinks: Literal["skip", "copy"] = "skip"
    min_free: str = "10%"
    limit: str = "50%"
    chunk_bytes: int = CHUNK_BYTES

    @classmethod
    def from_settings(
        cls, settings: Settings, *, chunk_bytes: int = CHUNK_BYTES
    ) -> ProtocolOptions:
        """The options of the current configuration."""
        cache = settings.cache
        return cls(
            mode=settings.paths.mode,
            verify=cache.verify,
            hardlinks=cache.hardlinks,
            min_free=cache.min_free,
            limit=cache.limit,
            chunk_bytes=chunk_bytes,
        )


@dataclass(frozen=True)
class Outcome:
    """How one operation ended; `op_id` is its journal row (None when none was written)."""

    kind: Kind
    path: str
    result: Result
    op_id: int | None = None
    size_bytes: int = 0
    error: str | None = None
    detail: dict[str, Any] | None = None
