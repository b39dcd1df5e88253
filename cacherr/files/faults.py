"""Fault injection for the crash tests: named points where a test can freeze this process.

Inert by default: `checkpoint()` returns at once unless the environment variable
`CACHERR_TEST_PAUSE_AT` names the point it is called with. Then the process writes
`CACHERR_PAUSED <point>` to stderr and stops itself (SIGSTOP), so a test can SIGKILL it at
exactly that moment of the on-disk protocol and see what recovery makes of the leftovers,
or change a file and let it continue (SIGCONT) to see how the protocol copes.
`point#N` stops at the N-th pass only (e.g. the 3rd copied chunk).

Points are `<kind>:<step>` right after the step was journaled and before it acts,
`<kind>:<step>:after` right after the action, and `<kind>:chunk` after each copied chunk.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections import Counter
from typing import Final

PAUSE_ENV: Final = "CACHERR_TEST_PAUSE_AT"
PAUSED_MARKER: Final = "CACHERR_PAUSED"

_passes: Counter[str] = Counter()
_lock = threading.Lock()


def checkpoint(point: str) -> None:
    """Stop here when the test environment asks for this point; otherwise do nothing."""
    wanted = os.environ.get(PAUSE_ENV)
    if not wanted:
        return
    name, _, nth = wanted.partition("#")
    if name != point:
        return
    with _lock:
        _passes[point] += 1
        count = _passes[point]
    if nth and int(nth) != count:
        return
    sys.stderr.write(f"{PAUSED_MARKER} {point}\n")
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGSTOP)
