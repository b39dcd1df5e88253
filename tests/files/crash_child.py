"""The process the crash tests kill: one cache, restore or recovery on a real database.

Usage: python crash_child.py '<json spec>' with `db`, `mapping`, `rel`, `kind`
(`cache`, `restore`, `recover`, or `batch`: cache every path of `rels` in one batch),
`options` and optionally `fsize_limit` (bytes, applied with RLIMIT_FSIZE before anything is
written). Prints the outcome as one JSON line (a batch first prints `{"started": true}`).
The fault-injection environment variable decides where it stops itself.
"""

from __future__ import annotations

import asyncio
import json
import resource
import signal
import sys
from pathlib import Path
from typing import Any

from cacherr.config.models import Mapping
from cacherr.db import Database
from cacherr.files.batch import BatchItem, cache_batch
from cacherr.files.model import ProtocolOptions
from cacherr.files.paths import PathResolver
from cacherr.files.protocol import cache_file, recover, restore_file


async def main(spec: dict[str, Any]) -> dict[str, Any]:
    db = await Database.open(Path(spec["db"]))
    try:
        if spec["kind"] == "recover":
            done = await recover(db)
            return {"recovered": [(r.kind, r.step, r.action, r.error) for r in done]}
        mapping = Mapping(**spec["mapping"])
        resolver = PathResolver([mapping])
        if spec["kind"] == "batch":
            items = [BatchItem(resolver.from_rel(mapping.name, rel)) for rel in spec["rels"]]
            print(json.dumps({"started": True}), flush=True)
            outcomes = await cache_batch(db, items, ProtocolOptions(**spec["options"]))
            return {"results": [o.result for o in outcomes]}
        loc = resolver.from_rel(mapping.name, spec["rel"])
        act = cache_file if spec["kind"] == "cache" else restore_file
        outcome = await act(db, loc, ProtocolOptions(**spec["options"]))
        return {"result": outcome.result, "error": outcome.error}
    finally:
        await db.close()


if __name__ == "__main__":
    spec = json.loads(sys.argv[1])
    if spec.get("fsize_limit"):
        # Writing past the limit then fails with EFBIG instead of killing the process.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (spec["fsize_limit"], spec["fsize_limit"]))
    print(json.dumps(asyncio.run(main(spec))), flush=True)
