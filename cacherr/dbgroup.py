"""Transaction bodies that wait for the writer together run in one transaction, one trip.

`Database.run` hands SQLite work to the database thread as a function of the connection (a
body). In a burst, forty reactions each write their claims: one transaction each means forty
turns of the writer, each costing a trip to the thread and back through the event loop,
while the journal and every other reaction wait. Bodies that arrive while the writer is busy
are written together when its turn comes: one BEGIN, each body inside a savepoint of its
own, one COMMIT. A body that raises is rolled back to its savepoint alone; the others commit.
Each body sees the writes of those before it, as if they had run one after the other.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

Body = Callable[[sqlite3.Connection], Any]

SYNCED: Final = "PRAGMA synchronous = FULL"
UNSYNCED: Final = "PRAGMA synchronous = NORMAL"


@dataclass(frozen=True)
class Outcome:
    """What one body gave: its value, or the exception it raised."""

    value: Any = None
    error: Exception | None = None


def run_group(conn: sqlite3.Connection, bodies: Sequence[Body], *, durable: bool) -> list[Outcome]:
    """On the database thread: every body in one transaction, each in its own savepoint.

    Raises (everything rolled back) only when BEGIN or COMMIT fails: the disk is full, the
    database is locked elsewhere.
    """
    outcomes: list[Outcome] = []
    if not durable:
        conn.execute(UNSYNCED)
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for body in bodies:
                conn.execute("SAVEPOINT body")
                try:
                    outcomes.append(Outcome(value=body(conn)))
                except Exception as exc:
                    conn.execute("ROLLBACK TO body")
                    outcomes.append(Outcome(error=exc))
                conn.execute("RELEASE body")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    finally:
        if not durable:
            conn.execute(SYNCED)
    return outcomes
