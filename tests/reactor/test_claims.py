"""The claims store on a real SQLite file: windows replaced atomically, retention start, pins."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cacherr.claims import Claim, ClaimSet, ClaimStore, Source, pin_holder
from cacherr.db import Database

T0 = 1_700_000_000.0


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "c.db")
    yield database
    await database.close()


@pytest.fixture
def store(db: Database) -> ClaimStore:
    return ClaimStore(db)


def ep(show: str, n: int) -> str:
    return f"/data/tv/{show}/Season 01/{show} - S01E{n:02d}.mkv"


def window(
    user: str, show: str, first: int, last: int, *, source: Source = "next_up"
) -> list[Claim]:
    return [
        Claim(ep(show, n), source, user, 600 - n, f"E{n} for {user}", show_key=show)
        for n in range(first, last + 1)
    ]


async def manage(db: Database, path: str, size: int = 100, *, parent: int | None = None) -> int:
    return await db.execute(
        "INSERT INTO managed_files (mapping, rel_path, plex_path, parent_id, state, size_bytes, "
        "mtime_ns, cached_at) VALUES ('tv', ?, ?, ?, 'cached', ?, 0, ?)",
        (path, path, parent, size, T0),
    )


async def released_at(db: Database, path: str) -> float | None:
    row = await db.fetchone(
        "SELECT released_at FROM managed_files WHERE plex_path = ? AND parent_id IS NULL", (path,)
    )
    assert row is not None
    return row[0]


async def test_upsert_keeps_when_a_claim_first_appeared_and_refreshes_the_rest(
    store: ClaimStore,
) -> None:
    first = Claim(ep("A", 1), "ondeck", "alice", 400, "on deck", created_at=T0)
    change = await store.upsert([first], now=T0)
    assert change.added == (ep("A", 1),)
    again = Claim(ep("A", 1), "ondeck", "alice", 420, "still on deck", expires_at=T0 + 99)
    change = await store.upsert([again], now=T0 + 50)
    assert change.added == ()
    (claim,) = await store.for_path(ep("A", 1))
    assert (claim.created_at, claim.priority, claim.reason, claim.expires_at) == (
        T0,
        420,
        "still on deck",
        T0 + 99,
    )


async def test_replacing_a_users_window_on_one_show_leaves_other_shows_and_users(
    store: ClaimStore,
) -> None:
    await store.upsert([*window("alice", "A", 2, 4), *window("alice", "B", 1, 2)], now=T0)
    await store.upsert(window("bob", "A", 3, 5), now=T0)
    change = await store.replace(
        "next_up", "alice", window("alice", "A", 3, 5), show_key="A", now=T0 + 10
    )
    assert change.added == (ep("A", 5),)
    assert change.removed == (ep("A", 2),)
    assert change.released == (ep("A", 2),)
    assert set(change.touched) == {ep("A", 2), ep("A", 5)}
    alice = {c.plex_path for c in await store.for_user("alice")}
    assert alice == {ep("A", 3), ep("A", 4), ep("A", 5), ep("B", 1), ep("B", 2)}
    assert len(await store.for_user("bob", "next_up")) == 3
    assert await store.users_per_path([ep("A", 3), ep("A", 5), ep("B", 1)]) == {
        ep("A", 3): 2,
        ep("A", 5): 2,
        ep("B", 1): 1,
    }


async def test_replacing_all_of_a_source_for_a_user(store: ClaimStore) -> None:
    await store.upsert(window("alice", "A", 1, 2, source="ondeck"), now=T0)
    await store.upsert(window("alice", "B", 1, 1, source="ondeck"), now=T0)
    await store.upsert(window("alice", "A", 1, 1), now=T0)
    change = await store.replace(
        "ondeck", "alice", window("alice", "C", 7, 7, source="ondeck"), now=T0
    )
    assert set(change.removed) == {ep("A", 1), ep("A", 2), ep("B", 1)}
    # A's first episode is still wanted as alice's next_up: not released.
    assert set(change.released) == {ep("A", 2), ep("B", 1)}
    assert [c.plex_path for c in await store.for_source("ondeck")] == [ep("C", 7)]


async def test_a_replace_refuses_claims_of_another_set(store: ClaimStore) -> None:
    with pytest.raises(ValueError, match="does not belong"):
        await store.replace("next_up", "alice", window("bob", "A", 1, 1))
    with pytest.raises(ValueError, match="not of show"):
        await store.replace("next_up", "alice", window("alice", "B", 1, 1), show_key="A")
    with pytest.raises(ValueError, match="unknown claim source"):
        await store.upsert([Claim("/x", "bogus", "a")])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs paths"):
        await store.release()


async def test_a_replace_is_all_or_nothing(store: ClaimStore, db: Database) -> None:
    await store.upsert(window("alice", "A", 1, 2), now=T0)
    await db.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON claims WHEN NEW.plex_path LIKE '%E09%' "
        "BEGIN SELECT RAISE(ABORT, 'refused'); END"
    )
    with pytest.raises(sqlite3.IntegrityError, match="refused"):
        await store.replace("next_up", "alice", window("alice", "A", 8, 9), show_key="A")
    assert [c.plex_path for c in await store.for_show("A")] == [ep("A", 1), ep("A", 2)]


async def test_several_sets_replaced_in_one_commit_each_with_its_own_change(
    store: ClaimStore, db: Database
) -> None:
    """A round of reactions: alice's and bob's windows on A and alice's on B in one call.
    Each set gets its own change, a file one set lets go that another still claims is not
    released, and one set refused by the database leaves every set as it was."""
    await store.upsert([*window("alice", "A", 1, 2), *window("bob", "A", 2, 3)], now=T0)
    sets = [
        ClaimSet(frozenset({"next_up"}), "alice", window("alice", "A", 3, 4), show_key="A"),
        ClaimSet(frozenset({"next_up"}), "bob", window("bob", "A", 3, 4), show_key="A"),
        ClaimSet(frozenset({"next_up"}), "alice", window("alice", "B", 1, 1), show_key="B"),
    ]
    alice_a, bob_a, alice_b = await store.replace_all(sets, now=T0 + 1)
    assert (alice_a.added, alice_a.removed) == ((ep("A", 3), ep("A", 4)), (ep("A", 1), ep("A", 2)))
    assert alice_a.released == (ep("A", 1),)  # bob still claimed E02 at that moment
    assert (bob_a.added, bob_a.removed, bob_a.released) == (
        (ep("A", 4),),
        (ep("A", 2),),
        (ep("A", 2),),
    )
    assert (alice_b.added, alice_b.removed) == ((ep("B", 1),), ())
    assert await store.users_per_path([ep("A", 3), ep("A", 4), ep("B", 1)]) == {
        ep("A", 3): 2, ep("A", 4): 2, ep("B", 1): 1,
    }  # fmt: skip

    await db.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON claims WHEN NEW.plex_path LIKE '%B - S01E02%' "
        "BEGIN SELECT RAISE(ABORT, 'refused'); END"
    )
    again = [
        ClaimSet(frozenset({"next_up"}), "bob", window("bob", "A", 5, 5), show_key="A"),
        ClaimSet(frozenset({"next_up"}), "alice", window("alice", "B", 2, 2), show_key="B"),
    ]
    with pytest.raises(sqlite3.IntegrityError, match="refused"):
        await store.replace_all(again, now=T0 + 2)
    assert {c.plex_path for c in await store.for_user("bob")} == {ep("A", 3), ep("A", 4)}


async def test_retention_starts_when_the_last_claim_goes_and_stops_when_claimed_again(
    store: ClaimStore, db: Database
) -> None:
    await manage(db, ep("A", 1))
    await store.upsert([*window("alice", "A", 1, 1), *window("bob", "A", 1, 1)], now=T0)
    change = await store.release([ep("A", 1)], user_id="alice", now=T0 + 10)
    assert change.released == ()
    assert await released_at(db, ep("A", 1)) is None
    change = await store.release(user_id="bob", now=T0 + 20)
    assert change.released == (ep("A", 1),)
    assert await released_at(db, ep("A", 1)) == T0 + 20
    # Releasing nothing more does not move the retention start.
    await store.release([ep("A", 1)], now=T0 + 30)
    assert await released_at(db, ep("A", 1)) == T0 + 20
    await store.upsert(window("carol", "A", 1, 1), now=T0 + 40)
    assert await released_at(db, ep("A", 1)) is None


async def test_claims_expire_by_time(store: ClaimStore, db: Database) -> None:
    await manage(db, "/m/Film.mkv")
    await store.upsert(
        [
            Claim("/m/Film.mkv", "watchlist", "alice", 300, expires_at=T0 + 100),
            Claim("/m/Other.mkv", "watchlist", "alice", 300, expires_at=T0 + 900),
            Claim("/m/Kept.mkv", "watchlist", "alice", 300),
        ],
        now=T0,
    )
    assert await store.users_per_path(now=T0 + 200) == {"/m/Other.mkv": 1, "/m/Kept.mkv": 1}
    change = await store.expire(T0 + 200)
    assert change.removed == ("/m/Film.mkv",)
    assert change.released == ("/m/Film.mkv",)
    assert await released_at(db, "/m/Film.mkv") == T0 + 200
    assert {c.plex_path for c in await store.all()} == {"/m/Other.mkv", "/m/Kept.mkv"}


async def test_claims_listed_by_paths(store: ClaimStore) -> None:
    await store.upsert([*window("alice", "A", 1, 2), *window("bob", "A", 2, 2)], now=T0)
    found = await store.for_paths([ep("A", 2), ep("A", 7)])
    assert sorted(c.user_id for c in found[ep("A", 2)]) == ["alice", "bob"]
    assert found[ep("A", 7)] == []


async def test_pins_hold_their_own_files_and_a_file_pinned_twice_stays(
    store: ClaimStore, db: Database
) -> None:
    show = await store.pin("100", "show", "A", now=T0)
    season = await store.pin("110", "season", "A season 1", now=T0 + 1)
    assert show.holder == pin_holder("100")
    pinned = [
        Claim(ep("A", n), "pinned", show.holder, 450, "pinned show A", show_key="A") for n in (1, 2)
    ]
    await store.set_pin_files("100", pinned, now=T0)
    await store.set_pin_files(
        "110", [Claim(ep("A", 1), "pinned", season.holder, 450, show_key="A")], now=T0
    )
    assert [p.rating_key for p in await store.pins()] == ["100", "110"]
    change = await store.unpin("100", now=T0 + 5)
    assert set(change.removed) == {ep("A", 1), ep("A", 2)}
    assert change.released == (ep("A", 2),)
    assert [p.rating_key for p in await store.pins()] == ["110"]
    assert [c.user_id for c in await store.for_path(ep("A", 1))] == [season.holder]
    # Pins are not people.
    assert await store.users_per_path() == {}
    again = await store.pin("110", "episode", "renamed", now=T0 + 9)
    assert (again.kind, again.title, again.created_at) == ("episode", "renamed", T0 + 1)


async def test_managed_files_fold_sidecars_and_know_their_pins(
    store: ClaimStore, db: Database
) -> None:
    parent = await manage(db, "/m/Film.mkv", 1000)
    await db.execute(
        "INSERT INTO managed_files (mapping, rel_path, plex_path, parent_id, state, size_bytes, "
        "mtime_ns, cached_at) VALUES ('m', 'Film.en.srt', '/m/Film.en.srt', ?, 'cached', 5, 0, ?)",
        (parent, T0),
    )
    await db.execute(
        "INSERT INTO managed_files (mapping, rel_path, plex_path, state, size_bytes, mtime_ns, "
        "cached_at) VALUES ('m', 'Copy.mkv', '/m/Copy.mkv', 'caching', 7, 0, ?)",
        (T0,),
    )
    await store.upsert([Claim("/m/Film.mkv", "pinned", pin_holder("5"), 450)], now=T0)
    film, copying = sorted(await store.managed(), key=lambda f: f.plex_path, reverse=True)
    assert (film.plex_path, film.size_bytes, film.pinned, film.in_flight) == (
        "/m/Film.mkv",
        1005,
        True,
        False,
    )
    assert (copying.plex_path, copying.pinned, copying.in_flight) == ("/m/Copy.mkv", False, True)
