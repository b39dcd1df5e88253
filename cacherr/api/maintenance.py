"""`GET /api/maintenance/audit` and `POST /api/maintenance/fix`: what lies in the mapped
folders that Cacherr does not manage yet (PlexCache leftovers, duplicates, stray temp files),
and the safe fixes for it.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from cacherr import keys
from cacherr.api.body import accepts, parse_body
from cacherr.api.envelope import ok
from cacherr.db import Database
from cacherr.errors import BadRequest, NotFound
from cacherr.events import OPERATION_COMPLETE, OPERATION_STARTED
from cacherr.executor.progress import ProgressReporter
from cacherr.files.audit import AuditReport, Finding, audit
from cacherr.files.audit_fix import Progress, apply_fixes
from cacherr.files.journal_queries import running_temp_paths
from cacherr.files.paths import Location, PathResolver


class FindingRef(BaseModel):
    """Which finding to fix, as the audit reported it."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(..., max_length=40, description="The finding's kind.")
    mapping: str = Field(..., max_length=200, description="The mapping's name.")
    rel: str = Field(..., max_length=4096, description="The path relative to the mapping.")
    side: Literal["array", "cache"] | None = Field(None, description="For a stray temp file.")


class FixRequest(BaseModel):
    """The findings to fix; each is checked against a fresh audit first."""

    model_config = ConfigDict(extra="forbid")

    findings: list[FindingRef] = Field(..., min_length=1, max_length=1000)


async def _audit(app: web.Application) -> tuple[AuditReport, PathResolver, Database]:
    settings = app[keys.CONFIG].current
    resolver = PathResolver(settings.paths.mappings)
    db = app[keys.DB]
    executor = app.get(keys.EXECUTOR)
    busy = executor.busy() if executor is not None else set()
    temps = await running_temp_paths(db)
    return await audit(db, resolver, busy=busy, active_temps=temps), resolver, db


async def maintenance_audit(request: web.Request) -> web.Response:
    """Scan the mapped folders for files Cacherr could adopt or clean up; nothing is changed."""
    report, _, _ = await _audit(request.app)
    return ok(report.to_dict(), message=f"{len(report.findings)} findings")


class _CompareProgress:
    """Adopting a duplicate compares every byte of both copies; the page shows it like a
    copy: `operation_started`, `operation_progress` and `operation_complete` with kind
    `compare` and a negative id of its own."""

    def __init__(self, app: web.Application) -> None:
        self._loop, self._bus = asyncio.get_running_loop(), app[keys.BUS]
        self._ids = itertools.count(1)
        self._started: list[tuple[int, str]] = []

    def __call__(self, loc: Location) -> Progress:
        op_id = -next(self._ids)
        self._started.append((op_id, loc.plex_path))
        self._bus.publish(OPERATION_STARTED, id=op_id, kind="compare", path=loc.plex_path)
        return ProgressReporter(self._loop, self._bus, op_id=op_id, kind="compare",
                                path=loc.plex_path)  # fmt: skip

    def finish(self) -> None:
        """Every compare has ended (the fixes' answers say how)."""
        for op_id, path in self._started:
            self._bus.publish(
                OPERATION_COMPLETE, id=op_id, kind="compare", path=path, result="done",
                error=None, duration_s=0.0, size_bytes=0,
            )  # fmt: skip


def _ref(finding: Finding) -> tuple[str, str, str, str | None]:
    return (finding.kind.value, finding.mapping, finding.rel, finding.side)


@accepts(FixRequest)
async def maintenance_fix(request: web.Request) -> web.Response:
    """Apply the fix of each given finding (adopt, restore a backup's name, remove a temp).

    The folders are audited again first, so only a fix the audit still proposes is applied;
    every fix re-checks the files just before acting and never deletes a file's last copy.
    """
    body = await parse_body(request, FixRequest)
    report, resolver, db = await _audit(request.app)
    current = {_ref(f): f for f in report.findings}
    wanted = []
    for ref in body.findings:
        found = current.get((ref.kind, ref.mapping, ref.rel, ref.side))
        if found is None:
            raise NotFound(f"{ref.rel} ({ref.kind}) is not among the audit's findings any more")
        wanted.append(found)
    if not wanted:
        raise BadRequest("no finding to fix")
    mode = request.app[keys.CONFIG].current.paths.mode
    compares = _CompareProgress(request.app)
    results = await apply_fixes(
        wanted,
        resolver=resolver,
        db=db,
        mode=mode,
        active_temps=await running_temp_paths(db),
        progress=compares,
    )
    compares.finish()
    done = sum(r.ok for r in results)
    return ok(
        {
            "results": [
                {"finding": r.finding.to_dict(), "ok": r.ok, "message": r.message} for r in results
            ],
            "fixed": done,
            "failed": len(results) - done,
        },
        message=f"{done} of {len(results)} fixed",
    )
