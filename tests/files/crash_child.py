"""The process the crash tests stop and kill: one cache, restore or recovery on a real database.

Usage: python crash_child.py '<json spec>' with `db`, `mapping`, `rel`, `kind`
(`cache`, `restore`, `recover`, or `batch`: cache every path of `rels` in one batch),
`options`, and optionally `fsize_limit` (bytes, applied with RLIMIT_FSIZE before anything is
written) and `stop`. Prints the outcome as one JSON line (a batch first prints
`{"started": true}`, so a test can kill it at a random moment of the batch).

`stop` names a moment of the on-disk protocol. There the child writes `CACHERR_PAUSED
<stop>` to stderr and stops itself (SIGSTOP), so the test can SIGKILL it at exactly that
moment and see what recovery makes of the leftovers, or change a file and let it go on
(SIGCONT) to see how the protocol copes. Cacherr has no hook for this: the child watches
it from outside, through what SQLite and the copy's caller see.

- `<kind>:<step>`: right after the journal's commit that says the running operation is at
  `<step>` (the protocol journals each step before taking it), before the step acts.
- `<kind>:<step>:after`: once the journal said `<step>`, at the start of the next write
  statement (the next step's `BEGIN`): the step has acted, nothing newer is journaled.
- `<kind>:chunk#N`: after the N-th chunk of the copy (or copy-back) was written, from the
  copy's progress callback (`CopyControl.on_progress`, which the executor passes too).

How the journal is watched: an audit hook (`sys.addaudithook`) catches each SQLite
connection as it opens (`sqlite3.connect/handle`) and attaches a trace callback, which sees
every statement before it runs. After each write (or `COMMIT`) a one-shot profile function
on that thread (`sys.setprofile`) takes the first event once the statement returned; if the
connection is then out of any transaction, what was written is committed (a lone statement
commits by itself, a transaction at its `COMMIT`), and it reads the running operation's
kind and step on that connection, idle at that moment, and stops if they are the ones
asked for. This holds however the journal groups its statements into transactions.

Why not the audit events of the file actions themselves (`os.rename`, `os.link`, `open`, …):
the renames to a final name go through `renameat2` by ctypes, and in the Python this
project runs (3.11.7) a call through a ctypes function pointer raises no audit event
(`ctypes.call_function` comes only from ctypes' private call helper; CPython's gh-115322
added it to every foreign call later); `copy_file_range`, `pwrite` and `fsync` raise none
either. So "before the rename" has no event of its own on every interpreter, while the
journal names every step before it acts. `stop_at` (childproc) checks the journal and the
files at each stop, so a stop that drifted to another moment fails.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import resource
import signal
import sqlite3
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from cacherr.config.models import Mapping
from cacherr.db import Database
from cacherr.files.batch import BatchItem, cache_batch
from cacherr.files.copy import CopyControl
from cacherr.files.model import ProtocolOptions
from cacherr.files.paths import PathResolver
from cacherr.files.protocol import cache_file, recover, restore_file

PAUSED_MARKER = "CACHERR_PAUSED"
_WRITE = re.compile(r"\s*(BEGIN|INSERT|UPDATE|DELETE|REPLACE|COMMIT)\b", re.IGNORECASE)
_RUNNING = "SELECT kind, step FROM operations WHERE state = 'running' ORDER BY id DESC LIMIT 1"


class Stop:
    """Stops this process once, at the moment `point` names (see the module docstring)."""

    def __init__(self, point: str) -> None:
        self.point = point
        kind, _, rest = point.partition(":")
        step, _, after = rest.partition(":")
        self.wanted = (kind, step)
        self.after = after == "after"
        self.chunk = int(step.partition("#")[2]) if step.startswith("chunk#") else 0
        self.said = False  # the journal has said the step
        self.done = False
        self.reading = False

    def now(self) -> None:
        sys.setprofile(None)
        if self.done:
            return
        self.done = True
        sys.stderr.write(f"{PAUSED_MARKER} {self.point}\n")
        sys.stderr.flush()
        # To this thread: it stops before the call returns. Sent to the process, the signal
        # goes to the main thread, and this one (the copy's) could write on for a moment.
        signal.pthread_kill(threading.get_ident(), signal.SIGSTOP)

    def control(self) -> CopyControl:
        """The copy's caller's side: counts the chunks written."""
        chunks = 0

        def on_progress(done_bytes: int, size_bytes: int) -> None:
            nonlocal chunks
            chunks += 1
            if chunks == self.chunk:
                self.now()

        return CopyControl(on_progress=on_progress if self.chunk else None)

    def audit(self, event: str, args: tuple[Any, ...]) -> None:
        if event != "sqlite3.connect/handle" or self.chunk:
            return
        conn: sqlite3.Connection = args[0]

        def attach(frame: FrameType, what: str, arg: Any) -> None:
            try:  # the connection is usable once the event that announced it has returned
                conn.set_trace_callback(functools.partial(self.statement, conn))
            except sqlite3.ProgrammingError:
                return
            sys.setprofile(None)

        sys.setprofile(attach)

    def statement(self, conn: sqlite3.Connection, sql: str) -> None:
        if self.reading or self.done:
            return
        if not _WRITE.match(sql):
            return
        if self.said and self.after:
            self.now()
        elif not self.said:
            sys.setprofile(functools.partial(self.returned, conn))

    def returned(self, conn: sqlite3.Connection, frame: FrameType, what: str, arg: Any) -> None:
        if frame.f_code is Stop.statement.__code__:  # still in the trace callback
            return
        sys.setprofile(None)
        if conn.in_transaction:  # written, not committed yet: its COMMIT comes back here
            return
        self.reading = True
        try:
            row = conn.execute(_RUNNING).fetchone()
        except sqlite3.Error:  # before the migrations made the table
            row = None
        finally:
            self.reading = False
        if row is not None and tuple(row) == self.wanted:
            self.said = True
            if not self.after:
                self.now()


async def main(spec: dict[str, Any], control: CopyControl | None) -> dict[str, Any]:
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
        outcome = await act(db, loc, ProtocolOptions(**spec["options"]), control=control)
        return {"result": outcome.result, "error": outcome.error}
    finally:
        await db.close()


if __name__ == "__main__":
    spec = json.loads(sys.argv[1])
    if spec.get("fsize_limit"):
        # Writing past the limit then fails with EFBIG instead of killing the process.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (spec["fsize_limit"], spec["fsize_limit"]))
    control = None
    if spec.get("stop"):
        stop = Stop(spec["stop"])
        sys.addaudithook(stop.audit)
        control = stop.control()
    print(json.dumps(asyncio.run(main(spec, control))), flush=True)
