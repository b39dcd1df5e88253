"""The priority formula: its terms, its order of sources and episodes, the worked example."""

from __future__ import annotations

import pytest

from cacherr.claims import Claim, Source, claim_priority, file_priority, window_reason
from cacherr.claims.priority import (
    episode_bonus,
    live_priority,
    recency_bonus,
    users_bonus,
)

DAY = 86400.0
NOW = 1_700_000_000.0


def test_sources_rank_playing_and_next_up_over_manual_pinned_ondeck_watchlist_list() -> None:
    order: list[Source] = ["next_up", "manual", "pinned", "ondeck", "watchlist", "list"]
    values = [claim_priority(s) for s in order]
    assert values == sorted(values, reverse=True)
    assert len(set(values)) == len(values)
    assert claim_priority("playing") == claim_priority("next_up")


def test_the_next_episode_outranks_the_one_playing_which_outranks_the_one_after() -> None:
    next_one = claim_priority("next_up", user_kind="main", distance=1)
    playing = claim_priority("playing", user_kind="main", distance=0)
    after = claim_priority("next_up", user_kind="main", distance=2)
    assert next_one > playing > after
    distances = [episode_bonus(d) for d in range(1, 12)]
    assert distances == sorted(distances, reverse=True)
    assert episode_bonus(None) == 0.0


def test_a_negative_distance_is_refused() -> None:
    with pytest.raises(ValueError, match="distance"):
        episode_bonus(-1)


def test_user_kind_and_boost_add_up() -> None:
    base = claim_priority("ondeck", user_kind="shared")
    assert claim_priority("ondeck", user_kind="home") == base + 20
    assert claim_priority("ondeck", user_kind="main") == base + 30
    assert claim_priority("ondeck", user_kind="shared", boost=-15) == base - 15
    # A boost of 100 lifts a user's claims by one source band.
    assert claim_priority("watchlist", user_kind="shared", boost=100) == base


def test_recency_halves_every_week_and_never_goes_negative() -> None:
    assert recency_bonus(0) == 20.0
    assert recency_bonus(7 * DAY) == pytest.approx(10.0)
    assert recency_bonus(14 * DAY) == pytest.approx(5.0)
    assert recency_bonus(-DAY) == 20.0  # a claim from a clock ahead counts as new
    assert 0 < recency_bonus(365 * DAY) < 0.01


def test_several_users_earn_a_capped_bonus() -> None:
    assert [users_bonus(n) for n in range(7)] == [0, 0, 15, 30, 45, 60, 60]


def test_the_worked_example_of_the_docstring() -> None:
    alice = Claim(
        "/tv/S/S02E01.mkv",
        "next_up",
        "alice",
        claim_priority("next_up", user_kind="main", distance=1),
        created_at=NOW - 2 * DAY,
    )
    bob = Claim(
        "/tv/S/S02E01.mkv",
        "ondeck",
        "bob",
        claim_priority("ondeck", user_kind="shared", boost=10),
        created_at=NOW - 10 * DAY,
    )
    assert alice.priority == 670
    assert bob.priority == 410
    assert live_priority(alice, NOW) == pytest.approx(686.4, abs=0.05)
    assert live_priority(bob, NOW) == pytest.approx(417.4, abs=0.05)
    assert file_priority([alice, bob], NOW) == pytest.approx(701.4, abs=0.05)


def test_expired_claims_do_not_count_and_pins_or_lists_are_not_people() -> None:
    path = "/m/Movie.mkv"
    pinned = Claim(path, "pinned", "pin:9", 450, created_at=NOW)
    listed = Claim(path, "list", "list:top", 200, created_at=NOW)
    gone = Claim(path, "watchlist", "carol", 900, created_at=NOW, expires_at=NOW - 1)
    assert file_priority([gone], NOW) is None
    assert file_priority([pinned, listed, gone], NOW) == 470.0  # 450 + R(0), no people bonus


def test_the_formula_is_deterministic() -> None:
    claims = [
        Claim("/a", "ondeck", u, claim_priority("ondeck", user_kind="home"), created_at=NOW - i)
        for i, u in enumerate(["x", "y", "z"])
    ]
    assert file_priority(claims, NOW) == file_priority(list(reversed(claims)), NOW)


def test_window_reasons_read_as_the_page_shows_them() -> None:
    assert window_reason("alice", 0, (1, 10), (1, 10)) == "playing S01E10 for alice"
    assert (
        window_reason("alice", 1, (2, 1), (1, 10))
        == "next episode (S02E01) for alice, playing S01E10"
    )
    assert window_reason("bob", 3, (2, 3), (2, None)) == (
        "3rd episode ahead (S02E03) for bob, playing episode ?"
    )
    assert window_reason("bob", 12, (3, 1), (2, 1)).startswith("12th episode ahead")
