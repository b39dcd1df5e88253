"""The planner: claims and the space picture in, an ordered plan of copies and returns out.

Pure functions over an `Index` (the in-memory picture of claims and managed files), so the
same inputs always give the same plan and a test can inject any time.
"""

from cacherr.planner.dryrun import dry_run
from cacherr.planner.index import Candidate, Index
from cacherr.planner.model import (
    Action,
    ActionKind,
    Dropped,
    EvictionPreview,
    Held,
    Plan,
    Space,
    Unfit,
)
from cacherr.planner.plan import FILE_GONE, plan, plan_all, plan_paths, simulate_eviction

__all__ = [
    "FILE_GONE",
    "Action",
    "ActionKind",
    "Candidate",
    "Dropped",
    "EvictionPreview",
    "Held",
    "Index",
    "Plan",
    "Space",
    "Unfit",
    "dry_run",
    "plan",
    "plan_all",
    "plan_paths",
    "simulate_eviction",
]
