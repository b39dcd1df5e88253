"""The claims and pins tables: upsert, replace a holder's set atomically, release, expire, list.

Releasing is where retention starts: when the last claim of a file goes away its
`managed_files.released_at` is set to the release time, and a new claim clears it again.
Every write is one transaction in one trip to the database thread (`Database.run`), so a
burst of reactions does not keep the writer busy a trip per statement. Claims are derived
state (a play, the sweep, a pin make them again), so their commits are not synced
(`durable=False`); a pin itself is.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, cast

import aiosqlite

from cacherr.claims.model import (
    PERSONAL_SOURCES,
    SOURCES,
    Claim,
    ManagedFile,
    Pin,
    PinKind,
    Source,
    pin_holder,
)
from cacherr.db import MEDIA_ROW, SIZE_WITH_SIDECARS, Database

_COLUMNS: Final = (
    "plex_path, rating_key, show_key, source, user_id, priority, reason, created_at, expires_at"
)
_UPSERT: Final = (
    f"INSERT INTO claims ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (plex_path, source, user_id) DO UPDATE SET "
    # created_at stays: it is when the claim first appeared, which recency ranks on.
    "rating_key = excluded.rating_key, show_key = excluded.show_key, "
    "priority = excluded.priority, reason = excluded.reason, expires_at = excluded.expires_at"
)
# A list of values bound as one JSON parameter: no variable-count limit, one prepared plan.
_IN_JSON: Final = "(SELECT value FROM json_each(?))"
_PERSONAL: Final = ", ".join(f"'{s}'" for s in sorted(PERSONAL_SOURCES))


@dataclass(frozen=True)
class Change:
    """What a write did: paths newly claimed, paths whose claim went, paths now unclaimed."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    released: tuple[str, ...] = field(default=())

    @property
    def touched(self) -> tuple[str, ...]:
        """Every path whose claims changed (what a partial plan should look at)."""
        return tuple(dict.fromkeys((*self.added, *self.removed)))


def _claim(row: aiosqlite.Row) -> Claim:
    return Claim(
        plex_path=row["plex_path"],
        source=cast(Source, row["source"]),
        user_id=row["user_id"],
        priority=float(row["priority"]),
        reason=row["reason"],
        created_at=float(row["created_at"]),
        expires_at=row["expires_at"],
        rating_key=row["rating_key"],
        show_key=row["show_key"],
    )


def _row(claim: Claim, now: float) -> tuple[Any, ...]:
    return (
        claim.plex_path,
        claim.rating_key,
        claim.show_key,
        claim.source,
        claim.user_id,
        claim.priority,
        claim.reason,
        claim.created_at or now,
        claim.expires_at,
    )


def _write(conn: sqlite3.Connection, batch: Sequence[Claim], now: float) -> tuple[str, ...]:
    """Upsert `batch`; the paths newly claimed (on the database thread, in a transaction)."""
    if not batch:
        return ()
    paths = json.dumps([c.plex_path for c in batch])
    known = {
        (r[0], r[1], r[2])
        for r in conn.execute(
            f"SELECT plex_path, source, user_id FROM claims WHERE plex_path IN {_IN_JSON}",
            (paths,),
        )
    }
    conn.executemany(_UPSERT, (_row(c, now) for c in batch))
    # A claimed file is no longer in retention.
    conn.execute(
        f"UPDATE managed_files SET released_at = NULL WHERE plex_path IN {_IN_JSON} "
        "AND released_at IS NOT NULL",
        (paths,),
    )
    return tuple(dict.fromkeys(c.plex_path for c in batch if c.key not in known))


def _delete(conn: sqlite3.Connection, sql: str, params: Sequence[Any], now: float) -> Change:
    """Run a `DELETE ... RETURNING plex_path` of claims; release what nothing claims now."""
    removed = list(dict.fromkeys(r[0] for r in conn.execute(sql, params)))
    return Change(removed=tuple(removed), released=_mark_released(conn, removed, now))


def _mark_released(conn: sqlite3.Connection, removed: Sequence[str], now: float) -> tuple[str, ...]:
    """Of `removed`, the paths no claim holds any more: their retention starts at `now`."""
    if not removed:
        return ()
    rows = conn.execute(
        "SELECT value FROM json_each(?) WHERE NOT EXISTS "
        "(SELECT 1 FROM claims WHERE claims.plex_path = value)",
        (json.dumps(list(removed)),),
    )
    released = tuple(dict.fromkeys(r[0] for r in rows))
    if released:
        conn.execute(
            f"UPDATE managed_files SET released_at = ? WHERE plex_path IN {_IN_JSON} "
            "AND released_at IS NULL",
            (now, json.dumps(released)),
        )
    return released


def _check_source(source: str) -> None:
    if source not in SOURCES:
        raise ValueError(f"unknown claim source {source!r}: one of {', '.join(SOURCES)}")


@dataclass(frozen=True)
class ClaimSet:
    """The whole set of claims of (sources, user), or of (sources, user, show) with `show_key`."""

    sources: frozenset[Source]
    user_id: str
    claims: list[Claim]
    show_key: str | None = None


def _replacing(each: ClaimSet) -> tuple[str, list[Any]]:
    """The DELETE of the set's claims that `each.claims` leaves out, checked first."""
    for source in each.sources:
        _check_source(source)
    for claim in each.claims:
        if claim.source not in each.sources or claim.user_id != each.user_id:
            raise ValueError(f"{claim.key} does not belong to ({sorted(each.sources)!r}, "
                             f"{each.user_id!r})")  # fmt: skip
        if each.show_key is not None and claim.show_key != each.show_key:
            raise ValueError(f"{claim.plex_path!r} is not of show {each.show_key!r}")
    # A row stays when the new set claims its path for its own source ("source|path":
    # a source never contains "|", so the key is unambiguous).
    keep = json.dumps([f"{c.source}|{c.plex_path}" for c in each.claims])
    sql = (
        f"DELETE FROM claims WHERE source IN {_IN_JSON} AND user_id = ? "
        f"AND source || '|' || plex_path NOT IN {_IN_JSON}"
    )
    params: list[Any] = [json.dumps(sorted(each.sources)), each.user_id, keep]
    if each.show_key is not None:
        sql += " AND show_key = ?"
        params.append(each.show_key)
    return sql, params


class ClaimStore:
    """Async access to `claims` and `pins` over the state database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # --- writes -------------------------------------------------------------------------

    async def upsert(self, claims: Iterable[Claim], *, now: float | None = None) -> Change:
        """Insert or refresh claims (a claim without `created_at` gets `now`)."""
        now = time.time() if now is None else now
        batch = list(claims)
        for claim in batch:
            _check_source(claim.source)
        added = await self.db.run(lambda conn: _write(conn, batch, now), durable=False)
        return Change(added=added)

    async def replace(
        self,
        source: Source | Collection[Source],
        user_id: str,
        claims: Iterable[Claim],
        *,
        show_key: str | None = None,
        now: float | None = None,
    ) -> Change:
        """Make `claims` the whole set of (source, user) — or of (source, user, show_key).

        One transaction: the reaction replaces a user's window on one show (sources
        `playing` and `next_up` together), the sweep all `ondeck` claims of a user. Claims
        of the set that are not in `claims` are deleted and their files released.
        """
        sources = frozenset({source} if isinstance(source, str) else source)
        (change,) = await self.replace_all([ClaimSet(sources, user_id, list(claims), show_key)],
                                           now=now)  # fmt: skip
        return change

    async def replace_all(
        self, sets: Sequence[ClaimSet], *, now: float | None = None
    ) -> list[Change]:
        """`replace` for each set, in order, in one transaction; one `Change` per set."""
        now = time.time() if now is None else now
        statements = [_replacing(each) for each in sets]

        def body(conn: sqlite3.Connection) -> list[Change]:
            changes = []
            for (sql, params), each in zip(statements, sets, strict=True):
                removed = [r[0] for r in conn.execute(sql + " RETURNING plex_path", params)]
                added = _write(conn, each.claims, now)
                changes.append(Change(added=added, removed=tuple(removed),
                                      released=_mark_released(conn, removed, now)))  # fmt: skip
            return changes

        # One trip to the database thread: a burst's reactions each wait for the writer.
        return await self.db.run(body, durable=False)

    async def release(
        self,
        plex_paths: Collection[str] | None = None,
        *,
        source: Source | None = None,
        user_id: str | None = None,
        now: float | None = None,
    ) -> Change:
        """Delete the claims matching every filter given (at least one is required)."""
        if plex_paths is None and source is None and user_id is None:
            raise ValueError("release needs paths, a source or a user")
        now = time.time() if now is None else now
        where, params = [], []
        if plex_paths is not None:
            where.append(f"plex_path IN {_IN_JSON}")
            params.append(json.dumps(list(plex_paths)))
        if source is not None:
            _check_source(source)
            where.append("source = ?")
            params.append(source)
        if user_id is not None:
            where.append("user_id = ?")
            params.append(user_id)
        sql = f"DELETE FROM claims WHERE {' AND '.join(where)} RETURNING plex_path"
        return await self.db.run(lambda conn: _delete(conn, sql, params, now), durable=False)

    async def expire(self, now: float) -> Change:
        """Delete claims whose `expires_at` has passed; retention starts at `now`."""
        sql = (
            "DELETE FROM claims WHERE expires_at IS NOT NULL AND expires_at <= ? "
            "RETURNING plex_path"
        )
        return await self.db.run(lambda conn: _delete(conn, sql, (now,), now), durable=False)

    # --- reads --------------------------------------------------------------------------

    async def _select(self, where: str = "", params: Sequence[Any] = ()) -> list[Claim]:
        sql = f"SELECT {_COLUMNS} FROM claims {where} ORDER BY plex_path, source, user_id"
        return [_claim(r) for r in await self.db.fetchall(sql, params)]

    async def all(self) -> list[Claim]:
        """Every claim."""
        return await self._select()

    async def for_path(self, plex_path: str) -> list[Claim]:
        """The claims of one file."""
        return await self._select("WHERE plex_path = ?", (plex_path,))

    async def for_paths(self, plex_paths: Collection[str]) -> dict[str, list[Claim]]:
        """The claims of several files, by path (a path without claims maps to [])."""
        out: dict[str, list[Claim]] = {p: [] for p in plex_paths}
        for claim in await self._select(
            f"WHERE plex_path IN {_IN_JSON}", (json.dumps(list(plex_paths)),)
        ):
            out[claim.plex_path].append(claim)
        return out

    async def for_user(self, user_id: str, source: Source | None = None) -> list[Claim]:
        """The claims one holder has (of one source, when given)."""
        if source is None:
            return await self._select("WHERE user_id = ?", (user_id,))
        return await self._select("WHERE source = ? AND user_id = ?", (source, user_id))

    async def for_source(self, source: Source) -> list[Claim]:
        """The claims of one source."""
        return await self._select("WHERE source = ?", (source,))

    async def for_show(self, show_key: str) -> list[Claim]:
        """The claims on the episodes of one show."""
        return await self._select("WHERE show_key = ?", (show_key,))

    async def users_per_path(
        self, plex_paths: Collection[str] | None = None, *, now: float | None = None
    ) -> dict[str, int]:
        """How many people claim each file (personal sources; expired claims left out)."""
        where = [f"source IN ({_PERSONAL})", "user_id != ''"]
        params: list[Any] = []
        if plex_paths is not None:
            where.append(f"plex_path IN {_IN_JSON}")
            params.append(json.dumps(list(plex_paths)))
        if now is not None:
            where.append("(expires_at IS NULL OR expires_at > ?)")
            params.append(now)
        rows = await self.db.fetchall(
            "SELECT plex_path, COUNT(DISTINCT user_id) FROM claims "
            f"WHERE {' AND '.join(where)} GROUP BY plex_path",
            params,
        )
        return {r[0]: int(r[1]) for r in rows}

    async def managed(self) -> list[ManagedFile]:
        """The managed files as the planner sees them: sidecars folded into their parent."""
        rows = await self.db.fetchall(
            "SELECT m.plex_path, m.rating_key, m.state, m.cached_at, m.released_at, "
            f"{SIZE_WITH_SIDECARS} AS size, p.plex_path IS NOT NULL AS pinned "
            "FROM managed_files m "
            "LEFT JOIN (SELECT DISTINCT plex_path FROM claims WHERE source = 'pinned') p "
            "  ON p.plex_path = m.plex_path "
            f"WHERE {MEDIA_ROW} ORDER BY m.plex_path"
        )
        return [
            ManagedFile(
                plex_path=r["plex_path"],
                size_bytes=int(r["size"]),
                cached_at=float(r["cached_at"]),
                released_at=r["released_at"],
                rating_key=r["rating_key"],
                pinned=bool(r["pinned"]),
                in_flight=r["state"] != "cached",
            )
            for r in rows
        ]

    # --- pins ---------------------------------------------------------------------------

    async def pin(
        self, rating_key: str, kind: PinKind, title: str = "", *, now: float | None = None
    ) -> Pin:
        """Pin a movie, show, season or episode (pinning again updates kind and title).

        The caller resolves the pin's files and hands them to `set_pin_files`.
        """
        now = time.time() if now is None else now
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO pins (rating_key, kind, title, created_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (rating_key) DO UPDATE SET kind = excluded.kind, "
                "title = excluded.title",
                (rating_key, kind, title, now),
            )
            row = await tx.fetchone("SELECT * FROM pins WHERE rating_key = ?", (rating_key,))
        assert row is not None
        return Pin(rating_key, cast(PinKind, row["kind"]), row["title"], row["created_at"])

    async def set_pin_files(
        self, rating_key: str, claims: Iterable[Claim], *, now: float | None = None
    ) -> Change:
        """Make `claims` (source `pinned`, holder `pin:<key>`) the files of one pin."""
        return await self.replace("pinned", pin_holder(rating_key), claims, now=now)

    async def unpin(self, rating_key: str, *, now: float | None = None) -> Change:
        """Forget a pin and release its claims (files pinned by another pin stay)."""
        now = time.time() if now is None else now
        sql = "DELETE FROM claims WHERE source = 'pinned' AND user_id = ? RETURNING plex_path"

        def body(conn: sqlite3.Connection) -> Change:
            conn.execute("DELETE FROM pins WHERE rating_key = ?", (rating_key,))
            return _delete(conn, sql, (pin_holder(rating_key),), now)

        return await self.db.run(body)  # the pin itself is the user's: synced

    async def pins(self) -> list[Pin]:
        """Every pin, oldest first."""
        rows = await self.db.fetchall("SELECT * FROM pins ORDER BY created_at, rating_key")
        return [
            Pin(r["rating_key"], cast(PinKind, r["kind"]), r["title"], r["created_at"])
            for r in rows
        ]
