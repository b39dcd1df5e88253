"""Users of every kind, their tokens (TTL, 401 refresh) and their effective settings."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from cacherr.config.models import CacheConfig, UsersConfig
from cacherr.db import Database
from cacherr.fakeplex import FakePlexServer, World
from cacherr.plex.errors import PlexUnauthorized
from cacherr.plex.gateway import PlexGateway
from cacherr.plex.users import PlexUser, UserDirectory, effective_policy, is_active

SWITCH = "/api/home/users/{id}/switch"
SHARED = "/api/servers/{machine_id}/shared_servers"


def by_name(users: list[PlexUser]) -> dict[str, PlexUser]:
    return {u.name: u for u in users}


async def test_users_are_classified_and_stored(users: UserDirectory, db: Database) -> None:
    found = by_name(await users.all())
    assert {n: u.kind for n, u in found.items()} == {
        "owner": "main", "alice": "home", "bob": "shared", "carol": "shared", "dave": "shared",
    }  # fmt: skip
    assert found["owner"].id == "1"
    rows = await db.fetchall("SELECT kind, count(*) FROM users GROUP BY kind ORDER BY kind")
    assert [tuple(r) for r in rows] == [("home", 1), ("main", 1), ("shared", 3)]


async def test_tokens_by_kind_cached_and_withheld(
    users: UserDirectory, world: World, fake: FakePlexServer
) -> None:
    found = by_name(await users.all())
    assert await users.token(found["owner"]) == world.owner.token
    assert await users.token(found["alice"]) == world.user("alice").token
    assert fake.counter.count(SWITCH) == 1
    # Since 2026-03 plex.tv gives no server token for invited users (JellyPlex-Watched #341):
    # the answer "none" is remembered like a token, so plex.tv is not asked every sweep.
    for name in ("bob", "carol", "dave"):
        assert await users.token(found[name]) is None
    assert fake.counter.count(SHARED) == 1  # one call serves every shared user
    for name in ("alice", "bob", "carol", "dave"):
        await users.token(found[name])
    assert (fake.counter.count(SWITCH), fake.counter.count(SHARED)) == (1, 1)


async def test_tokens_expire_after_the_ttl(
    users: UserDirectory, fake: FakePlexServer, clock: Any, box: Any
) -> None:
    alice = by_name(await users.all())["alice"]
    await users.token(alice)
    clock.now += box().plex.token_ttl_hours * 3600 - 1
    await users.token(alice)
    assert fake.counter.count(SWITCH) == 1
    clock.now += 2
    await users.token(alice)
    assert fake.counter.count(SWITCH) == 2


async def test_a_refused_token_is_dropped_and_fetched_again(
    users: UserDirectory, gateway: PlexGateway, world: World, fake: FakePlexServer
) -> None:
    """Legacy plex.tv (before 2026-03): shared_servers still carries the friend's token."""
    world.shared_tokens = True
    bob = by_name(await users.all())["bob"]
    old = await users.token(bob)
    world.user("bob").token = "tok-rotated"  # Plex rotated bob's token

    async def on_deck(token: str) -> int:
        data = await gateway.query("/library/sections/1/onDeck", token=token)
        return len(data)

    assert await users.call_as(bob, on_deck) == 0
    assert old != "tok-rotated" and await users.token(bob) == "tok-rotated"
    assert fake.counter.count(SHARED) == 2

    world.user("bob").shared_token_withdrawn = True
    world.user("bob").token = "tok-again"
    await users.drop_token(bob.id)
    with pytest.raises(PlexUnauthorized):
        await users.call_as(bob, on_deck)


async def test_friends_without_access_to_this_server_are_left_out(
    users: UserDirectory, world: World
) -> None:
    """plex.tv's /api/users lists every friend, also those without a share of this server
    (adamgot/python-plexlibrary#92 checks the machine identifier in the friend's servers)."""
    world.add_user("zoe", kind="shared", shares_server=False)
    world.add_user("yann", kind="shared", libraries=["Movies"])
    names = set(by_name(await users.refresh()))
    assert "yann" in names and "zoe" not in names


async def test_new_users_get_their_type_defaults(users: UserDirectory, world: World) -> None:
    world.add_user("erin", kind="home")
    erin = by_name(await users.refresh())["erin"]
    policy = users.policy(erin)
    assert policy.ondeck and policy.watchlist and policy.episodes_ahead == 5


def test_effective_policy_layers_type_defaults_and_overrides() -> None:
    cfg = UsersConfig.model_validate(
        {
            "home": {"days_to_monitor": 7},
            "overrides": {
                "bob": {"watchlist": True, "episodes_ahead": 2},
                "kid": {"enabled": False},
            },
        }
    )
    cache = CacheConfig(next_episodes=4)
    bob = effective_policy(PlexUser("2", "bob", "Bob", "shared"), cfg, cache)
    assert (bob.watchlist, bob.lists, bob.episodes_ahead) == (True, False, 2)
    kid = effective_policy(PlexUser("3", "", "kid", "home"), cfg, cache)
    assert (kid.enabled, kid.days_to_monitor, kid.episodes_ahead) == (False, 7, 4)
    owner = effective_policy(PlexUser("1", "owner", "owner", "main"), cfg, cache)
    assert owner.watchlist and owner.days_to_monitor == 30


async def test_inactive_users_are_skipped(users: UserDirectory, box: Any, clock: Any) -> None:
    box.patch("users", inactive_days=10)
    bob = by_name(await users.all())["bob"]
    await users.note_activity(bob.id, clock.now - 11 * 86_400)
    active = {u.name for u, _ in await users.active()}
    assert "bob" not in active and "alice" in active  # never seen counts as active
    await users.note_activity(bob.id, clock.now - 60)
    assert "bob" in {u.name for u, _ in await users.active()}
    cfg = UsersConfig(inactive_days=0)
    assert is_active(PlexUser("2", "bob", "", "shared", last_active_at=0.0), cfg, clock.now)


async def test_a_burst_of_plays_notes_everyone_in_a_write_or_two(
    users: UserDirectory, db: Database, world: World, clock: Any
) -> None:
    """Forty plays at once (the burst a Saturday evening brings): every player's activity
    is recorded when its note returns, in one or two transactions, not forty."""
    for i in range(38):
        world.add_user(f"friend{i}")
    everyone = await users.refresh()
    statements: list[str] = []
    await db.conn.set_trace_callback(statements.append)

    await asyncio.gather(
        *(users.note_activity(u.id, clock.now - i) for i, u in enumerate(everyone))
    )

    await db.conn.set_trace_callback(None)
    noted = {u.id: u.last_active_at for u in await users.all()}
    assert noted == {u.id: clock.now - i for i, u in enumerate(everyone)}
    assert 1 <= sum(s.startswith("BEGIN") for s in statements) <= 2


async def test_a_user_by_id_is_read_once_and_follows_refreshes_and_plays(
    users: UserDirectory, db: Database, world: World, clock: Any
) -> None:
    """A play's user is looked up by id (every webhook and notification names one) from the
    table as last read, and that copy follows what changes the table: plays and refreshes."""
    bob = by_name(await users.all())["bob"]
    assert db._reader is not None
    reads: list[str] = []
    await db._reader.set_trace_callback(reads.append)
    assert await users.get(bob.id) == bob
    assert await users.get("no-such-id") is None
    await users.note_activity(bob.id, clock.now - 5)
    found = await users.get(bob.id)
    await db._reader.set_trace_callback(None)
    assert found is not None and found.last_active_at == clock.now - 5
    assert not [s for s in reads if "FROM users" in s]

    world.users = [u for u in world.users if u.username != "bob"]
    world.add_user("erin", kind="home")
    erin = by_name(await users.refresh())["erin"]
    assert await users.get(bob.id) is None
    assert await users.get(erin.id) == erin


async def test_tokens_never_reach_the_log(
    users: UserDirectory, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    world.add_user("frank", kind="shared")
    for user in await users.refresh():
        await users.token(user)
    # Cacherr's own loggers (aiosqlite logs statement parameters at DEBUG: see the report).
    text = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("cacherr"))
    assert "frank" in text
    for user in world.users:
        assert user.token not in text


async def test_home_tokens_are_renewed_ahead_of_their_ttl(
    users: UserDirectory, fake: FakePlexServer, clock: Any, box: Any
) -> None:
    assert await users.renew_tokens() == 1  # alice had none yet
    assert await users.renew_tokens() == 0
    clock.now += box().plex.token_ttl_hours * 3600 * 0.95  # within 10 % of the TTL
    assert await users.renew_tokens() == 1
    assert fake.counter.count(SWITCH) == 2
