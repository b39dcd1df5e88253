"""The `lists` and `list_items` tables: each list's state and its entries with match state.

A successful fetch replaces a list's entries in one transaction; a failed one only marks
the list `failed` with the reason, so its previous entries (and the claims made from them)
stay in force.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import aiosqlite

from cacherr import events
from cacherr.db import Database
from cacherr.sources.lists.model import (
    ExternalIds,
    Kind,
    ListEntry,
    ListState,
    Match,
    MatchState,
)


@dataclass(frozen=True)
class ListStatus:
    """A list's row: state, the last good fetch and last try, the last failure's reason, counts."""

    name: str
    state: ListState = "new"
    fetched_at: float | None = None
    error: str | None = None
    item_count: int = 0
    truncated: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    attempted_at: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """For the API."""
        return {
            "state": self.state,
            "fetched_at": self.fetched_at,
            "attempted_at": self.attempted_at,
            "error": self.error,
            "item_count": self.item_count,
            "truncated": self.truncated,
            "counts": {s: self.counts.get(s, 0) for s in
                       ("matched", "not_in_library", "ambiguous", "pending")},
        }  # fmt: skip

    def as_event(self) -> events.ListState:
        """The `list_state` bus event telling of it."""
        data = self.as_dict()
        return events.ListState(
            name=self.name, state=self.state, fetched_at=self.fetched_at,
            attempted_at=self.attempted_at, error=self.error, item_count=self.item_count,
            truncated=self.truncated, counts=data["counts"],
        )  # fmt: skip


@dataclass(frozen=True)
class StoredItem:
    """One entry of a list as stored, with its match."""

    position: int
    entry: ListEntry
    match_state: MatchState
    rating_key: str | None
    by_title: bool

    def as_dict(self) -> dict[str, Any]:
        """For the API."""
        e = self.entry
        return {
            "position": self.position,
            "kind": e.kind,
            "title": e.title,
            "year": e.year,
            "ids": e.ids.as_dict(),
            "released": e.released.isoformat() if e.released else None,
            "match_state": self.match_state,
            "rating_key": self.rating_key,
            "by_title": self.by_title,
        }


def _item(row: aiosqlite.Row) -> StoredItem:
    released = row["released"]
    entry = ListEntry(
        cast(Kind | None, row["kind"]),
        row["title"] or "",
        row["year"],
        ExternalIds.from_dict(json.loads(row["ids"] or "{}")),
        dt.date.fromisoformat(released) if released else None,
    )
    return StoredItem(row["position"], entry, cast(MatchState, row["match_state"]),
                      row["rating_key"], bool(row["by_title"]))  # fmt: skip


class ListRepository:
    """Reads and writes the list tables."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def record_success(
        self,
        name: str,
        matched: Sequence[tuple[ListEntry, Match]],
        *,
        truncated: bool,
        at: float,
        note: str = "",
    ) -> None:
        """Replace the list's entries and mark it `ok` (or `truncated`, with `note`)."""
        state: ListState = "truncated" if truncated else "ok"
        rows = [
            # A matched entry takes the kind of what it matched (an RSS item may not say).
            (name, pos, m.item_type or e.kind, e.title, e.year, json.dumps(e.ids.as_dict()),
             e.released.isoformat() if e.released else None, m.state, m.rating_key,
             int(m.by_title))
            for pos, (e, m) in enumerate(matched, start=1)
        ]  # fmt: skip
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO lists (name, state, fetched_at, attempted_at, error, item_count,"
                " truncated) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET"
                " state = excluded.state, fetched_at = excluded.fetched_at,"
                " attempted_at = excluded.attempted_at, error = excluded.error,"
                " item_count = excluded.item_count, truncated = excluded.truncated",
                (name, state, at, at, note if truncated else None, len(rows), int(truncated)),
            )
            await tx.execute("DELETE FROM list_items WHERE list_name = ?", (name,))
            await tx.executemany(
                "INSERT INTO list_items (list_name, position, kind, title, year, ids, released,"
                " match_state, rating_key, by_title) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    async def record_failure(self, name: str, reason: str, *, at: float) -> None:
        """Mark the list `failed` (tried at `at`); its entries and last good fetch time stay."""
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO lists (name, state, error, attempted_at) VALUES (?, 'failed', ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET state = 'failed', error = excluded.error,"
                " attempted_at = excluded.attempted_at",
                (name, reason, at),
            )

    async def statuses(self) -> dict[str, ListStatus]:
        """Every stored list's status by name, with counts per match state."""
        counts: dict[str, dict[str, int]] = {}
        for row in await self.db.fetchall(
            "SELECT list_name, match_state, count(*) FROM list_items"
            " GROUP BY list_name, match_state"
        ):
            counts.setdefault(row[0], {})[row[1]] = row[2]
        rows = await self.db.fetchall(
            "SELECT name, state, fetched_at, error, item_count, truncated, attempted_at FROM lists"
        )
        return {
            r["name"]: ListStatus(r["name"], r["state"], r["fetched_at"], r["error"],
                                  r["item_count"], bool(r["truncated"]), counts.get(r["name"], {}),
                                  r["attempted_at"])
            for r in rows
        }  # fmt: skip

    async def status(self, name: str) -> ListStatus:
        """One list's status (`new` when never fetched)."""
        return (await self.statuses()).get(name) or ListStatus(name)

    async def items(self, name: str, *, matched_only: bool = False) -> list[StoredItem]:
        """The list's entries in list order."""
        where = " AND match_state = 'matched'" if matched_only else ""
        rows = await self.db.fetchall(
            f"SELECT * FROM list_items WHERE list_name = ?{where} ORDER BY position", (name,)
        )
        return [_item(r) for r in rows]

    async def delete(self, name: str) -> None:
        """Forget a list and its entries."""
        async with self.db.transaction() as tx:
            await tx.execute("DELETE FROM list_items WHERE list_name = ?", (name,))
            await tx.execute("DELETE FROM lists WHERE name = ?", (name,))
