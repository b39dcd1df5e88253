"""The planner, directly: pure functions fed with claims, managed files, sizes, space, time."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from cacherr.claims import Claim, ClaimStore, ManagedFile, Source, UserKind, claim_priority
from cacherr.config.models import CacheConfig
from cacherr.db import Database
from cacherr.planner import (
    FILE_GONE,
    Index,
    Plan,
    Space,
    dry_run,
    plan,
    plan_paths,
    simulate_eviction,
)

GB = 10**9
HOUR = 3600.0
DAY = 86400.0
NOW = 1_700_000_000.0


def ep(show: str, season: int, episode: int) -> str:
    return f"/data/tv/{show}/Season {season:02d}/{show} - S{season:02d}E{episode:02d}.mkv"


def movie(title: str) -> str:
    return f"/data/movies/{title}/{title}.mkv"


def claim(
    path: str,
    source: Source = "ondeck",
    user: str = "alice",
    *,
    kind: UserKind | None = "main",
    distance: int | None = None,
    show: str | None = None,
    boost: float = 0.0,
    created: float = NOW,
    expires: float | None = None,
    reason: str = "",
) -> Claim:
    priority = claim_priority(source, user_kind=kind, boost=boost, distance=distance)
    return Claim(path, source, user, priority, reason, created, expires, show_key=show)


def window(
    user: str, show: str, playing: int, ahead: int, *, kind: UserKind = "main"
) -> list[Claim]:
    """A reaction's claims: the episode playing in season 1 and the next `ahead` ones."""
    out = [claim(ep(show, 1, playing), "playing", user, kind=kind, distance=0, show=show)]
    out += [
        claim(ep(show, 1, playing + d), "next_up", user, kind=kind, distance=d, show=show)
        for d in range(1, ahead + 1)
    ]
    return out


def managed(
    path: str,
    size: int = 1 * GB,
    *,
    released: float | None = None,
    pinned: bool = False,
    in_flight: bool = False,
) -> ManagedFile:
    return ManagedFile(path, size, NOW - 30 * DAY, released, pinned=pinned, in_flight=in_flight)


def space(
    used: int,
    *,
    limit: int = 100 * GB,
    total: int = 1000 * GB,
    free: int | None = None,
    min_free: int = 0,
) -> Space:
    free = total - used - 500 * GB if free is None else free
    return Space(total, free, used, limit, min_free, 95, 85)


def run(
    claims: Iterable[Claim],
    files: Iterable[ManagedFile] = (),
    sizes: dict[str, int] | None = None,
    room: Space | None = None,
    *,
    active: Iterable[str] = (),
    now: float = NOW,
    retention_hours: float = 24,
) -> Plan:
    claims = list(claims)
    files = list(files)
    sizes = sizes if sizes is not None else {c.plex_path: 1 * GB for c in claims}
    room = room or space(sum(f.size_bytes for f in files))
    return plan(
        claims,
        files,
        sizes=sizes,
        space=room,
        active=set(active),
        now=now,
        retention_hours=retention_hours,
    )


def kinds(p: Plan) -> list[tuple[str, str]]:
    return [(a.kind, a.plex_path) for a in p.actions]


# --- order ------------------------------------------------------------------------------


def test_under_space_pressure_the_highest_priorities_are_cached_first() -> None:
    low = claim(movie("List"), "list", "list:top", kind=None)
    mid = claim(movie("Deck"), "ondeck")
    high = claim(ep("S", 1, 2), "next_up", distance=1, show="S")
    p = run([low, mid, high], room=space(92 * GB))  # 3 GB of room below the 95% threshold
    assert kinds(p) == [
        ("cache", high.plex_path),
        ("cache", mid.plex_path),
        ("cache", low.plex_path),
    ]
    p = run([low, mid, high], room=space(93 * GB))
    assert kinds(p) == [("cache", high.plex_path), ("cache", mid.plex_path)]
    (unfit,) = p.unfit
    assert (unfit.plex_path, unfit.missing_bytes) == (low.plex_path, 1 * GB)


def test_within_a_show_the_next_episode_comes_before_the_one_playing_then_the_rest() -> None:
    p = run(window("alice", "S", 10, 3))
    assert [a.plex_path for a in p.actions] == [ep("S", 1, n) for n in (11, 10, 12, 13)]
    reasons = [a.reason for a in p.actions]
    assert all(r for r in reasons)


def test_a_newer_claim_further_ahead_waits_for_the_earlier_episode() -> None:
    # E12 was claimed two weeks ago, E13 just now: recency alone would put E13 first.
    old = claim(ep("S", 1, 12), "next_up", distance=3, show="S", created=NOW - 14 * DAY)
    new = claim(ep("S", 1, 13), "next_up", distance=4, show="S", created=NOW)
    index = Index.build([old, new], [])
    assert (index.priority(new.plex_path, NOW) or 0) > (index.priority(old.plex_path, NOW) or 0)
    p = run([new, old])
    assert [a.plex_path for a in p.actions] == [old.plex_path, new.plex_path]


def test_two_users_on_one_show_each_keep_their_window() -> None:
    claims = window("alice", "S", 2, 2) + window("bob", "S", 8, 2)
    p = run(claims, room=space(89 * GB))  # room for all six
    order = [a.plex_path for a in p.actions]
    assert set(order) == {ep("S", 1, n) for n in (2, 3, 4, 8, 9, 10)}
    # Each user's next episode before either user's further episodes.
    assert order.index(ep("S", 1, 9)) < order.index(ep("S", 1, 4))
    assert order.index(ep("S", 1, 3)) < order.index(ep("S", 1, 2)) < order.index(ep("S", 1, 4))
    assert order.index(ep("S", 1, 9)) < order.index(ep("S", 1, 8)) < order.index(ep("S", 1, 10))


def test_a_file_two_users_want_outranks_the_same_file_wanted_by_one() -> None:
    shared = [claim(movie("A"), "ondeck", "alice"), claim(movie("A"), "ondeck", "bob")]
    alone = [claim(movie("B"), "ondeck", "carol")]
    p = run([*alone, *shared])
    assert [a.plex_path for a in p.actions] == [movie("A"), movie("B")]
    assert "also wanted by 1 other user" in p.actions[0].reason


# --- eviction ---------------------------------------------------------------------------


def test_a_file_never_leaves_for_one_of_lower_priority() -> None:
    cached = [managed(movie(f"M{i}"), 10 * GB) for i in range(9)]
    deck = [claim(f.plex_path, "ondeck") for f in cached]
    pending = claim(movie("Listed"), "list", "list:top", kind=None)
    p = run([*deck, pending], cached, {pending.plex_path: 10 * GB}, space(90 * GB))
    assert p.actions == ()
    (unfit,) = p.unfit
    assert unfit.missing_bytes == 5 * GB
    assert "lower priority free only 0 B" in unfit.reason


def test_a_higher_priority_file_evicts_the_lowest_down_to_the_target() -> None:
    cached = [managed(movie(f"M{i:02d}"), 5 * GB) for i in range(18)]
    deck = [
        claim(f.plex_path, "ondeck", created=NOW - i * DAY) for i, f in enumerate(cached)
    ]  # the older the claim, the lower its priority: M17 is the lowest
    pending = claim(ep("S", 1, 2), "next_up", distance=1, show="S")
    p = run([*deck, pending], cached, {pending.plex_path: 10 * GB}, space(90 * GB))
    # 90 + 10 = 100 GB: 5 must go to pass under the threshold, 15 to reach the target.
    assert kinds(p) == [
        ("evict", movie("M17")),
        ("evict", movie("M16")),
        ("evict", movie("M15")),
        ("cache", pending.plex_path),
    ]
    assert p.used_bytes == 85 * GB
    assert "making room for" in p.actions[0].reason


def test_room_is_not_made_below_the_target_for_its_own_sake() -> None:
    files = [managed(movie("Small"), 2 * GB, released=NOW - HOUR), managed(movie("Big"), 88 * GB)]
    claims = [claim(movie("Big"), "ondeck")]
    pending = claim(ep("S", 1, 2), "next_up", distance=1, show="S")
    p = run([*claims, pending], files, {pending.plex_path: 6 * GB}, space(90 * GB))
    # 1 GB must go; the 88 GB file would overshoot the 85 GB target by far: it stays.
    assert kinds(p) == [("evict", movie("Small")), ("cache", pending.plex_path)]


def test_past_the_threshold_unclaimed_files_go_first_then_the_lowest() -> None:
    files = [
        managed(movie("Old"), 4 * GB, released=NOW - 3 * HOUR),
        managed(movie("Older"), 4 * GB, released=NOW - 5 * HOUR),
        managed(movie("Low"), 4 * GB),
        managed(movie("High"), 4 * GB),
        managed(movie("Rest"), 81 * GB),
    ]
    claims = [
        claim(movie("Low"), "list", "list:x", kind=None),
        claim(movie("High"), "next_up", distance=1),
        claim(movie("Rest"), "manual"),
    ]
    p = run(claims, files, {}, space(97 * GB))
    assert kinds(p) == [
        ("evict", movie("Older")),
        ("evict", movie("Old")),
        ("evict", movie("Low")),
    ]
    assert p.used_bytes == 85 * GB
    assert "past the 95% threshold" in p.actions[0].reason


def test_pinned_files_are_never_evicted() -> None:
    files = [managed(movie("Pinned"), 50 * GB, pinned=True), managed(movie("Pin2"), 40 * GB)]
    claims = [claim(movie("Pin2"), "pinned", "pin:7", kind=None)]
    pending = claim(ep("S", 1, 1), "next_up", distance=1, show="S")
    p = run([*claims, pending], files, {pending.plex_path: 10 * GB}, space(98 * GB))
    assert p.actions == ()
    assert p.unfit[0].missing_bytes == 13 * GB


def test_files_in_an_active_session_are_neither_evicted_nor_restored() -> None:
    files = [
        managed(movie("Watching"), 20 * GB, released=NOW - 48 * HOUR),
        managed(movie("Idle"), 5 * GB, released=NOW - 1 * HOUR),
        managed(movie("Busy"), 70 * GB),
    ]
    busy = claim(movie("Busy"), "ondeck")
    pending = claim(ep("S", 1, 1), "next_up", distance=1, show="S")
    p = run(
        [busy, pending],
        files,
        {pending.plex_path: 10 * GB},
        space(95 * GB),
        active={movie("Watching")},
    )
    assert [h.plex_path for h in p.held] == [movie("Watching")]
    assert kinds(p) == [
        ("evict", movie("Idle")),
        ("evict", movie("Busy")),
        ("cache", pending.plex_path),
    ]


def test_a_copy_in_flight_is_not_evicted() -> None:
    files = [managed(movie("Copying"), 10 * GB, released=NOW - DAY, in_flight=True)]
    pending = claim(ep("S", 1, 1), "next_up", distance=1, show="S")
    p = run([pending], files, {pending.plex_path: 90 * GB}, space(10 * GB))
    assert p.actions == ()
    assert p.unfit[0].missing_bytes == 5 * GB


def test_the_pool_floor_can_force_room_even_inside_the_budget() -> None:
    files = [managed(movie("Idle"), 5 * GB, released=NOW - HOUR)]
    pending = claim(movie("New"), "ondeck")
    room = space(5 * GB, free=12 * GB, min_free=10 * GB)
    p = run([pending], files, {movie("New"): 4 * GB}, room)
    assert kinds(p) == [("evict", movie("Idle")), ("cache", movie("New"))]
    assert p.free_bytes == 13 * GB


def test_a_file_bigger_than_the_budget_is_unfit_with_the_bytes_missing() -> None:
    pending = claim(movie("Huge"), "manual")
    p = run([pending], [], {movie("Huge"): 120 * GB}, space(0))
    (unfit,) = p.unfit
    assert unfit.missing_bytes == 25 * GB
    assert unfit.size_bytes == 120 * GB
    assert "25.00 GB short" in unfit.reason


def test_the_eviction_simulation_lists_what_would_go() -> None:
    files = [
        managed(movie("Gone"), 3 * GB, released=NOW - HOUR),
        managed(movie("Low"), 5 * GB),
        managed(movie("High"), 5 * GB),
        managed(movie("Rest"), 77 * GB, pinned=True),
    ]
    claims = [claim(movie("Low"), "list", "l", kind=None), claim(movie("High"), "next_up")]
    index = Index.build(claims, files)
    room = space(90 * GB)
    preview = simulate_eviction(index, 8 * GB, 500.0, space=room, active=set(), now=NOW)
    assert [a.plex_path for a in preview.files] == [movie("Gone"), movie("Low")]
    assert (preview.freed_bytes, preview.missing_bytes, preview.fits) == (8 * GB, 0, True)
    short = simulate_eviction(index, 20 * GB, 500.0, space=room, active=set(), now=NOW)
    assert (short.files, short.missing_bytes, short.fits) == ((), 7 * GB, False)
    easy = simulate_eviction(index, 1 * GB, 1.0, space=room, active=set(), now=NOW)
    assert (easy.files, easy.fits) == ((), True)


# --- retention --------------------------------------------------------------------------


def test_an_unclaimed_file_goes_back_only_once_its_retention_is_over() -> None:
    files = [managed(movie("Watched"), released=NOW - 23 * HOUR)]
    assert run([], files).actions == ()
    later = run([], files, now=NOW + 2 * HOUR)
    assert kinds(later) == [("restore", movie("Watched"))]
    assert "no claim for 25.0 h (retention 24 h)" in later.actions[0].reason
    assert run([], files, now=NOW + 2 * HOUR, retention_hours=48).actions == ()


def test_a_watched_file_stays_while_another_user_claims_it() -> None:
    files = [managed(ep("S", 1, 3))]
    still = claim(ep("S", 1, 3), "next_up", "bob", distance=1, show="S", created=NOW - 9 * DAY)
    assert run([still], files, now=NOW + 9 * DAY).actions == ()


def test_a_claim_expiry_starts_the_retention() -> None:
    files = [managed(movie("Listed"))]
    listed = claim(movie("Listed"), "watchlist", expires=NOW - 2 * HOUR)
    assert kinds(run([listed], files, retention_hours=1)) == [("restore", movie("Listed"))]
    assert run([listed], files, retention_hours=3).actions == ()
    assert run([listed], files, now=NOW - 3 * HOUR, retention_hours=0).actions == ()


def test_a_claimed_file_that_vanished_is_dropped_with_a_reason() -> None:
    gone = claim(movie("Gone"), "ondeck")
    p = run([gone], sizes={})
    assert p.actions == ()
    (dropped,) = p.dropped
    assert (dropped.plex_path, dropped.reason, dropped.sources) == (
        movie("Gone"),
        FILE_GONE,
        ("ondeck",),
    )


# --- partial plans, the index, the dry run -------------------------------------------------


def test_a_partial_plan_looks_only_at_its_paths_but_makes_room_anywhere() -> None:
    files = [
        managed(movie("Due"), 1 * GB, released=NOW - 40 * HOUR),
        managed(movie("Stale"), 10 * GB, released=NOW - 2 * HOUR),
        managed(movie("Full"), 83 * GB),
    ]
    index = Index.build([claim(movie("Full"), "ondeck")], files)
    reaction = window("alice", "S", 1, 1)
    index.update_claims({c.plex_path: [c] for c in reaction}, now=NOW)
    p = plan_paths(
        index,
        [c.plex_path for c in reaction],
        sizes={c.plex_path: 3 * GB for c in reaction},
        space=space(94 * GB),
        active=set(),
        now=NOW,
        retention_hours=24,
    )
    # "Due" is past its retention but outside the reaction: the sweep restores it.
    assert kinds(p) == [
        ("evict", movie("Due")),
        ("evict", movie("Stale")),
        ("cache", ep("S", 1, 2)),
        ("cache", ep("S", 1, 1)),
    ]


def test_the_index_mirrors_the_release_and_keeps_its_order_current() -> None:
    files = [managed(movie("A")), managed(movie("B"))]
    a, b = claim(movie("A"), "ondeck"), claim(movie("B"), "list", "l", kind=None)
    index = Index.build([a, b], files)
    assert [c.file.plex_path for c in index.eviction_order(NOW)] == [movie("B"), movie("A")]
    index.update_claims({movie("A"): []}, now=NOW + 5)
    released = index.managed(movie("A"))
    assert released is not None
    assert released.released_at == NOW + 5
    assert [c.file.plex_path for c in index.eviction_order(NOW)] == [movie("A"), movie("B")]
    index.update_claims({movie("A"): [a]}, now=NOW + 6)
    again = index.managed(movie("A"))
    assert again is not None
    assert again.released_at is None
    index.drop_managed(movie("B"))
    index.put_managed(managed(movie("C"), pinned=True))
    assert [c.file.plex_path for c in index.eviction_order(NOW)] == [movie("A")]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["playing", "next_up", "ondeck", "watchlist", "list", "manual"]),
            st.sampled_from(["u1", "u2", "u3"]),
            st.integers(0, 30),  # file
            st.floats(0, 60 * DAY),  # claim age
            st.integers(-50, 50),  # boost
        ),
        max_size=40,
    ),
    st.sets(st.integers(0, 30), min_size=1),
)
def test_the_lazy_eviction_order_is_exactly_ascending_priority(
    raw: list[tuple[Source, str, int, float, int]], cached: set[int]
) -> None:
    claims = [
        Claim(f"/f{n}", src, user, claim_priority(src, boost=b), created_at=NOW - age)
        for src, user, n, age, b in raw
    ]
    files = [managed(f"/f{n}", released=NOW - n * HOUR) for n in sorted(cached)]
    index = Index.build(claims, files)
    got = list(index.eviction_order(NOW))
    assert sorted(c.file.plex_path for c in got) == sorted(f.plex_path for f in files)
    unclaimed = [c for c in got if c.priority is None]
    assert got[: len(unclaimed)] == unclaimed
    assert [c.file.released_since for c in unclaimed] == sorted(
        c.file.released_since for c in unclaimed
    )
    values = [c.priority for c in got[len(unclaimed) :]]
    assert values == sorted(v for v in values if v is not None)
    for cand in got:
        assert cand.priority == index.priority(cand.file.plex_path, NOW)


def test_the_dry_run_lists_the_plan_in_order() -> None:
    files = [managed(movie("Old"), 5 * GB, released=NOW - 30 * HOUR)]
    pending = claim(
        ep("S", 2, 1), "next_up", distance=1, show="S", reason="next episode (S02E01) for alice"
    )
    p = run([pending], files, {pending.plex_path: 2 * GB}, space(5 * GB))
    assert dry_run(p) == [
        {
            "action": "restore",
            "path": movie("Old"),
            "size_bytes": 5 * GB,
            "priority": None,
            "reason": "no claim for 30.0 h (retention 24 h)",
        },
        {
            "action": "cache",
            "path": ep("S", 2, 1),
            "size_bytes": 2 * GB,
            "priority": 690.0,
            "reason": "next episode (S02E01) for alice",
        },
    ]


def test_space_resolves_the_configured_sizes() -> None:
    room = Space.from_config(
        CacheConfig(limit="50%", min_free="100GB", evict_threshold=90, evict_target=80),
        total_bytes=1000 * GB,
        free_bytes=600 * GB,
        used_bytes=0,
    )
    assert (room.limit_bytes, room.min_free_bytes) == (500 * GB, 100 * GB)
    assert (room.threshold_bytes, room.target_bytes) == (450 * GB, 400 * GB)


async def test_a_play_event_end_to_end_on_a_real_database(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "c.db")
    try:
        store = ClaimStore(db)
        await store.upsert(window("bob", "S", 5, 2, kind="shared"), now=NOW)
        await store.upsert(window("alice", "S", 1, 2), now=NOW)
        index = Index.build(await store.all(), await store.managed())
        # Alice moves on to E2: her window on S is replaced, bob's stays.
        change = await store.replace(
            ("playing", "next_up"), "alice", window("alice", "S", 2, 2), show_key="S", now=NOW + 60
        )
        assert change.removed == (ep("S", 1, 1), ep("S", 1, 2))  # E2 is now `playing`
        index.update_claims(await store.for_paths(change.touched), now=NOW + 60)
        show = [c.plex_path for c in await store.for_show("S")]
        p = plan_paths(
            index,
            show,
            sizes=dict.fromkeys(show, 1 * GB),
            space=space(0),
            active=set(),
            now=NOW + 60,
            retention_hours=24,
        )
        cached = {a.plex_path for a in p.of_kind("cache")}
        assert cached == {ep("S", 1, n) for n in (2, 3, 4, 5, 6, 7)}
    finally:
        await db.close()
