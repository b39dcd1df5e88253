"""The on-disk protocol's public surface: cache a file, restore it, plan either, recover.

`cache_file` and `restore_file` act (see `caching` and `restoring` for the sequences);
`plan` answers what they would do now, touching nothing (the executor's dry run);
`recover` finishes what a crash interrupted (see `recovery` for the table).
"""

from __future__ import annotations

import asyncio
from typing import Any

from cacherr.db import Database
from cacherr.errors import CacherrError
from cacherr.files import names
from cacherr.files.caching import cache_file, hardlink_skip_reason, space_admission
from cacherr.files.copy import CopyCancelled, CopyControl
from cacherr.files.journal import Journal
from cacherr.files.model import CACHED, FileLocation, Kind, Outcome, ProtocolOptions
from cacherr.files.ondisk import inspect_source, missing_dirs, restore_route
from cacherr.files.recovery import Recovered, recover
from cacherr.files.restoring import array_room, restore_file

__all__ = [
    "CopyCancelled",
    "CopyControl",
    "Outcome",
    "ProtocolOptions",
    "Recovered",
    "cache_file",
    "plan",
    "recover",
    "restore_file",
]


async def plan(
    db: Database, kind: Kind, loc: FileLocation, options: ProtocolOptions
) -> dict[str, Any]:
    """What `cache_file` / `restore_file` would do now: `action` is `cache`, `restore`,
    `skip` or `refuse`, with the `reason` and the `steps` in order. Reads only."""
    base: dict[str, Any] = {"kind": kind, "path": loc.plex_path, "size_bytes": 0}
    try:
        if kind == "cache":
            return {**base, **await _plan_cache(db, loc, options)}
        return {**base, **await _plan_restore(db, loc)}
    except CacherrError as exc:
        return {**base, "action": "refuse", "reason": exc.message, "details": exc.details}
    except OSError as exc:
        return {**base, "action": "refuse", "reason": f"{type(exc).__name__}: {exc}"}


async def _plan_cache(db: Database, loc: FileLocation, options: ProtocolOptions) -> dict[str, Any]:
    journal = Journal(db)
    if await journal.managed(loc.mapping.name, loc.rel) is not None:
        return {"action": "skip", "reason": "the file is already managed"}
    st = await asyncio.to_thread(inspect_source, loc)
    why = hardlink_skip_reason(st, options)
    if why is not None:
        return {"action": "skip", "reason": why, "size_bytes": st.st_size}
    budget = await journal.budget()
    await asyncio.to_thread(space_admission, loc, st.st_size, options, budget)
    dirs = await asyncio.to_thread(missing_dirs, loc)
    temp = names.temp_path(loc.cache_path, 0).name.replace(".0.", ".<op>.")
    steps = [f"create folder {d}" for d in dirs]
    steps += [
        f"copy {loc.array_path} to {temp}",
        f"verify the copy ({options.verify})",
        f"rename it to {loc.cache_path}",
    ]
    if options.mode == "union":
        steps.append(f"rename {loc.array_path} to {loc.backup_path.name}")
    else:
        steps.append(f"hard-link {loc.array_path} as {loc.backup_path.name}")
        steps.append(f"replace {loc.array_path} with a symlink to {loc.cache_path}")
    return {"action": "cache", "reason": None, "size_bytes": st.st_size, "steps": steps}


async def _plan_restore(db: Database, loc: FileLocation) -> dict[str, Any]:
    managed = await Journal(db).managed(loc.mapping.name, loc.rel)
    if managed is None or managed.state != CACHED:
        state = managed.state if managed is not None else "not managed"
        return {"action": "refuse", "reason": f"the file is {state}"}
    fp = managed.fingerprint
    route = await asyncio.to_thread(restore_route, loc, managed.size_bytes, managed.mtime_ns, fp)
    steps: list[str] = []
    if route in ("return", "repair"):
        steps.append(f"rename {loc.backup_path.name} back to {loc.array_path}")
    elif route == "copy":
        await asyncio.to_thread(array_room, loc, managed.size_bytes)
        steps += [
            f"copy {loc.cache_path} back to a temp name beside {loc.array_path}",
            f"rename it to {loc.array_path}",
            f"remove {loc.backup_path.name} if present",
        ]
    steps.append(f"remove {loc.cache_path} and the folders Cacherr created that are empty")
    reason = {
        "return": "unchanged since cached",
        "repair": "the cache copy is damaged (same size and time, other bytes)",
        "copy": "changed since cached (an upgrade), or without backup",
    }.get(route, "already back on the array")
    return {"action": "restore", "reason": reason, "size_bytes": managed.size_bytes, "steps": steps}
