"""The state of one operation while it runs: what its steps and its clean-up share."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from cacherr.db import Database
from cacherr.errors import CacherrError
from cacherr.files.copy import CopyCancelled
from cacherr.files.journal import Journal
from cacherr.files.model import PLANNED, FileLocation, Kind, Outcome, ProtocolOptions, Result

log = logging.getLogger(__name__)

_DOING = {"cache": "Caching", "restore": "Restoring"}


class OperationRun:
    """One cache or restore operation in progress: its journal row, step, temp file, size."""

    def __init__(
        self, kind: Kind, db: Database, loc: FileLocation, options: ProtocolOptions
    ) -> None:
        self.kind = kind
        self.journal = Journal(db)
        self.loc = loc
        self.options = options
        self.op_id = 0
        self.step = PLANNED
        self.temp: Path | None = None
        self.size = 0

    async def enter(self, step: str, **fields: object) -> None:
        """Journal `step` before taking it."""
        self.step = step
        await self.journal.step(self.op_id, step, **fields)

    def outcome(
        self, result: Result, error: str | None = None, *, detail: dict[str, Any] | None = None
    ) -> Outcome:
        """The operation's result as the executor reports it."""
        return Outcome(self.kind, self.loc.plex_path, result, self.op_id, self.size, error, detail)

    async def begin(self, reason: str | None) -> None:
        """Open the journal row before anything is touched."""
        self.op_id = await self.journal.begin(self.kind, self.loc, reason=reason)

    async def clean_up(self, state: str, error: str) -> None:
        """Leave the files as they were before the operation (each kind knows how)."""
        raise NotImplementedError

    async def settle(self, steps: Awaitable[Outcome]) -> Outcome:
        """Run the steps; on cancellation or failure clean up (shielded) and say how it ended.

        Cancelling the awaiting task cleans up and re-raises.
        """
        try:
            return await steps
        except asyncio.CancelledError:
            await asyncio.shield(self.clean_up("cancelled", "cancelled"))
            raise
        except (OSError, CacherrError) as exc:
            return await self.settle_error(exc)

    async def settle_error(self, exc: OSError | CacherrError) -> Outcome:
        """Clean up (shielded) after `exc` stopped the operation; say how it ended."""
        if isinstance(exc, CopyCancelled):
            await asyncio.shield(self.clean_up("cancelled", "cancelled"))
            return self.outcome("cancelled", "cancelled")
        error = str(exc) if isinstance(exc, CacherrError) else f"{type(exc).__name__}: {exc}"
        log.warning("%s %s failed: %s", _DOING[self.kind], self.loc.array_path, error)
        await asyncio.shield(self.clean_up("failed", error))
        return self.outcome("failed", error)
