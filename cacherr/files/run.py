"""The state of one operation while it runs: what its steps and its clean-up share."""

from __future__ import annotations

from pathlib import Path

from cacherr.db import Database
from cacherr.files.faults import checkpoint
from cacherr.files.journal import Journal
from cacherr.files.model import PLANNED, FileLocation, Kind, Outcome, ProtocolOptions, Result


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
        checkpoint(f"{self.kind}:{step}")

    def outcome(self, result: Result, error: str | None = None) -> Outcome:
        """The operation's result as the executor reports it."""
        return Outcome(self.kind, self.loc.plex_path, result, self.op_id, self.size, error)
