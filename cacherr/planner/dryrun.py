"""A plan as the API shows it in a dry run: plain dicts in plan order."""

from __future__ import annotations

from typing import Any

from cacherr.planner.model import Plan


def dry_run(plan: Plan) -> list[dict[str, Any]]:
    """`{action, path, size_bytes, priority, reason}` per action, then each unfit file.

    An unfit file appears with action `unfit` so the page can say what will not fit and why;
    priorities are rounded to one decimal (None for a file no one claims).
    """
    rows: list[dict[str, Any]] = [
        {
            "action": a.kind,
            "path": a.plex_path,
            "size_bytes": a.size_bytes,
            "priority": None if a.priority is None else round(a.priority, 1),
            "reason": a.reason,
        }
        for a in plan.actions
    ]
    rows.extend(
        {
            "action": "unfit",
            "path": u.plex_path,
            "size_bytes": u.size_bytes,
            "priority": round(u.priority, 1),
            "reason": u.reason,
        }
        for u in plan.unfit
    )
    return rows
