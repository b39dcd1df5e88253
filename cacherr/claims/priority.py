"""The priority of a claim and of a file: one formula, pure and deterministic.

A file's priority decides the order in which files are cached and which files leave first
when room is needed (lowest first; a file never leaves for one of lower priority). Pinned
files never leave whatever their priority; files in an active Plex session never move.

The formula::

    claim(c)   = S[source] + K[user kind] + B + E(d)                 (stored in claims.priority)
    file(f, t) = max over live claims c of f: ( claim(c) + R(t - c.created_at) )
                 + U * min(n - 1, U_MAX)                             (computed when planning)

    E(d) = 0 for a movie (no distance), 30 for d = 0 (the item playing),
           40 * 0.7^(d - 1) for d >= 1 (d = 1 is the next episode)
    R(a) = 20 * 0.5^(a / 7 days)          (a claim made now +20, a week old +10, a month +1.0)

where `B` is the user's `priority_boost` (or the import list's `priority`, -100..100: a
boost of 100 lifts a user's claims by one source band), `d` the episode distance from what
the user is watching, `t` the plan time and `n` the number of people (personal sources:
playing, next_up, ondeck, watchlist, manual) claiming the file. A claim whose `expires_at`
has passed is not live.

| term | value |
| --- | --- |
| S playing, next_up | 600 (same band: the episode distance orders them) |
| S manual | 500 |
| S pinned | 450 (pinned files are never evicted; this only orders their copy) |
| S ondeck | 400 |
| S watchlist | 300 |
| S list | 200 |
| K main / home / shared | 30 / 20 / 0 |
| E(0) playing, E(1), E(2), E(3), E(5), E(10) | 30, 40, 28, 19.6, 9.6, 1.6 |
| R half-life, maximum | 7 days, 20 |
| U per extra person, U_MAX | 15, 4 (at most +60) |

Why the next episode ranks above the one playing: the one playing is already being read
from the array (its disk is spinning), while the next one is what will need a disk woken
up — so E(1) > E(0) and "the next episode is copied before the current one". Further
episodes decay so a long window does not crowd out other users' next episodes.

Worked example. Alice (main user, boost 0) plays S01E10; two days later the planner looks at
S02E01 (E+1 for her). Bob (shared, boost +10) has S02E01 on deck since a claim 10 days old::

    alice next_up d=1: 600 + 30 + 0 + 40 = 670;  R(2 d)  = 20 * 0.5^(2/7)  = 16.4 -> 686.4
    bob ondeck:        400 +  0 + 10 + 0 = 410;  R(10 d) = 20 * 0.5^(10/7) =  7.4 -> 417.4
    file = max(686.4, 417.4) + 15 * (2 - 1) = 701.4
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Final

from cacherr.claims.model import Claim, Source, UserKind

SOURCE_WEIGHT: Final[dict[Source, float]] = {
    "playing": 600.0,
    "next_up": 600.0,
    "manual": 500.0,
    "pinned": 450.0,
    "ondeck": 400.0,
    "watchlist": 300.0,
    "list": 200.0,
}
USER_WEIGHT: Final[dict[UserKind, float]] = {"main": 30.0, "home": 20.0, "shared": 0.0}
PLAYING_BONUS: Final = 30.0
NEXT_BONUS: Final = 40.0
EPISODE_DECAY: Final = 0.7
RECENCY_MAX: Final = 20.0
RECENCY_HALF_LIFE_S: Final = 7 * 86400.0
USER_BONUS: Final = 15.0
USER_BONUS_MAX_EXTRA: Final = 4


def episode_bonus(distance: int | None) -> float:
    """E(d): 0 for a movie, 30 for the item playing, 40 * 0.7^(d-1) for the d-th next one."""
    if distance is None:
        return 0.0
    if distance < 0:
        raise ValueError(f"episode distance must be >= 0, not {distance}")
    if distance == 0:
        return PLAYING_BONUS
    return NEXT_BONUS * EPISODE_DECAY ** (distance - 1)


def claim_priority(
    source: Source,
    *,
    user_kind: UserKind | None = None,
    boost: float = 0.0,
    distance: int | None = None,
) -> float:
    """The stored part of a claim's priority: S + K + B + E(d).

    `user_kind` is None for holders that are not people (lists, pins); `boost` is the
    user's `priority_boost` or the import list's `priority`.
    """
    kind = USER_WEIGHT[user_kind] if user_kind is not None else 0.0
    return SOURCE_WEIGHT[source] + kind + boost + episode_bonus(distance)


def recency_bonus(age_s: float) -> float:
    """R(a): 20 for a claim made now, halving every 7 days (a future claim counts as new)."""
    return RECENCY_MAX * math.pow(0.5, max(age_s, 0.0) / RECENCY_HALF_LIFE_S)


def users_bonus(people: int) -> float:
    """U * min(n - 1, 4): the bonus of a file several people claim."""
    return USER_BONUS * min(max(people - 1, 0), USER_BONUS_MAX_EXTRA)


def live_priority(claim: Claim, now: float) -> float:
    """One claim's priority at `now`: its stored part plus recency."""
    return claim.priority + recency_bonus(now - claim.created_at)


def file_priority(claims: Iterable[Claim], now: float) -> float | None:
    """A file's priority at `now` from its claims; None when no claim is live."""
    best: float | None = None
    people: set[str] = set()
    for claim in claims:
        if claim.expired(now):
            continue
        value = live_priority(claim, now)
        if best is None or value > best:
            best = value
        if claim.personal:
            people.add(claim.user_id)
    if best is None:
        return None
    return best + users_bonus(len(people))
