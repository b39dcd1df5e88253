"""On-deck per user and section (hidden libraries too), and Plex's database for tokenless users."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cacherr.fakeplex import FakePlexServer, Movie, Show, World
from cacherr.fakeplex.plexdb import write_plex_database
from cacherr.plex.gateway import PlexGateway
from cacherr.plex.library import Library
from cacherr.plex.users import UserDirectory
from cacherr.sources.ondeck import OnDeck

DAY = 86_400
SECTION_DECK = "/library/sections/{id}/onDeck"


def show(world: World, title: str) -> Show:
    return next(i for i in world.items.values() if isinstance(i, Show) and i.title == title)


def movie(world: World, title: str) -> Movie:
    return next(i for i in world.items.values() if isinstance(i, Movie) and i.title == title)


def make_ondeck(gateway: PlexGateway, users: UserDirectory, library: Library, box: Any,
                clock: Any) -> OnDeck:  # fmt: skip
    return OnDeck(gateway, users, library, box, clock=clock)


async def test_ondeck_per_user_includes_hidden_libraries(
    gateway: PlexGateway, users: UserDirectory, library: Library, world: World,
    fake: FakePlexServer, box: Any, clock: Any,
) -> None:  # fmt: skip
    """Legacy plex.tv (before 2026-03, shared_servers with accessTokens) so bob reads his own."""
    world.shared_tokens = True
    world.clock = lambda: clock.now - 60
    alice, bob = world.user("alice"), world.user("bob")
    expanse, bluey = show(world, "The Expanse"), show(world, "Bluey")
    world.watch(alice, expanse.seasons[1].episodes[2])
    world.watch(alice, bluey.seasons[0].episodes[0])  # Kids is hidden from Home
    world.set_progress(bob, movie(world, "Heat"), 60_000)
    result = await make_ondeck(gateway, users, library, box, clock).collect()
    got = {(e.username, e.item.title, e.item.season, e.item.episode) for e in result.entries}
    assert got == {
        ("alice", "Episode 1", 2, 1),
        ("alice", "Episode 2", 1, 2),
        ("bob", "Heat", None, None),
    }
    heat = next(e for e in result.entries if e.username == "bob")
    assert heat.item.view_offset_ms == 60_000 and heat.last_viewed_at == clock.now - 60
    assert heat.item.files == [m.parts[0].file for m in movie(world, "Heat").media]
    assert "dave" in result.skipped and not result.failed  # no token, no database
    # carol sees only Movies: the other sections answer 404 and are skipped quietly.
    assert fake.counter.count(SECTION_DECK) == 3 * 4
    user = next(u for u in await users.all() if u.name == "bob")
    assert user.last_active_at == clock.now - 60


async def test_days_to_monitor_and_sections_filter(
    gateway: PlexGateway, users: UserDirectory, library: Library, world: World, box: Any,
    clock: Any,
) -> None:  # fmt: skip
    # Resume points carry lastViewedAt; a next-up episode (never played) has none and
    # stays (Plex's own on-deck window already bounds it).
    alice = world.user("alice")
    world.clock = lambda: clock.now - 40 * DAY
    world.set_progress(alice, show(world, "The Expanse").seasons[1].episodes[0], 1000)
    world.clock = lambda: clock.now - DAY
    world.set_progress(alice, show(world, "Bluey").seasons[0].episodes[0], 1000)
    ondeck = make_ondeck(gateway, users, library, box, clock)
    titles = {e.item.show_title for e in (await ondeck.collect()).entries}
    assert titles == {"Bluey"}  # The Expanse was last touched 40 days ago (> 30)
    box.patch("users", home={"days_to_monitor": 0})
    assert {e.item.show_title for e in (await ondeck.collect()).entries} == {"Bluey", "The Expanse"}
    box.patch("plex", sections=["TV Shows"])
    assert {e.item.show_title for e in (await ondeck.collect()).entries} == {"The Expanse"}


async def test_tokenless_user_read_from_plex_database(
    gateway: PlexGateway, users: UserDirectory, library: Library, world: World, box: Any,
    clock: Any, tmp_path: Path,
) -> None:  # fmt: skip
    dave = world.user("dave")
    expanse = show(world, "The Expanse")
    world.clock = lambda: clock.now - 3600
    world.watch(dave, expanse.seasons[1].episodes[2])
    world.clock = lambda: clock.now - 60
    world.set_progress(dave, movie(world, "Alien"), 5_000)
    path = tmp_path / "com.plexapp.plugins.library.db"
    write_plex_database(world, path)
    before = path.read_bytes()
    box.patch("plex", database_path=str(path))
    result = await make_ondeck(gateway, users, library, box, clock).collect()
    mine = [e for e in result.entries if e.username == "dave"]
    assert [(e.item.title, e.item.season, e.item.episode, e.source) for e in mine] == [
        ("Alien", None, None, "plex_database"),
        ("Episode 1", 2, 1, "plex_database"),
    ]
    assert mine[1].item.show_key == str(expanse.rating_key)
    assert mine[1].item.files == [expanse.seasons[2].episodes[0].media[0].parts[0].file]
    assert mine[0].item.view_offset_ms == 5_000
    assert path.read_bytes() == before  # opened read-only, never written


SHARED = "/api/servers/{machine_id}/shared_servers"
SWITCH = "/api/home/users/{id}/switch"


async def test_shared_users_come_from_plex_database_without_asking_plextv(
    gateway: PlexGateway, users: UserDirectory, library: Library, world: World,
    fake: FakePlexServer, box: Any, clock: Any, tmp_path: Path,
) -> None:  # fmt: skip
    """Since 2026-03 plex.tv gives invited users no server token (JellyPlex-Watched #341,
    DOMAIN.md "Plex as it is in 2026"): with Plex's database mounted, that is their path."""
    world.clock = lambda: clock.now - 60
    world.set_progress(world.user("bob"), movie(world, "Heat"), 60_000)
    path = tmp_path / "com.plexapp.plugins.library.db"
    write_plex_database(world, path)
    box.patch("plex", database_path=str(path))
    ondeck = make_ondeck(gateway, users, library, box, clock)
    for _ in range(2):
        result = await ondeck.collect()
        assert not result.failed and not result.skipped
        bob = [(e.item.title, e.source) for e in result.entries if e.username == "bob"]
        assert bob == [("Heat", "plex_database")]
    assert fake.counter.count(SHARED) == 0  # never asked for a token Plex does not give
    by = {u.name: users.deck_source(u) for u in await users.all()}
    assert {n: d.source for n, d in by.items()} == {
        "owner": "token", "alice": "token", "bob": "database", "carol": "database",
        "dave": "database",
    }  # fmt: skip


async def test_shared_users_without_database_are_skipped_with_the_fix(
    gateway: PlexGateway, users: UserDirectory, library: Library, world: World,
    fake: FakePlexServer, box: Any, clock: Any,
) -> None:  # fmt: skip
    """No token from plex.tv (2026 shape) and no database: skipped, not failed; the answer is
    remembered (one shared_servers call for two sweeps) and the Users page gets the fix."""
    ondeck = make_ondeck(gateway, users, library, box, clock)
    for _ in range(2):
        result = await ondeck.collect()
        assert set(result.skipped) == {"bob", "carol", "dave"} and not result.failed
    assert fake.counter.count(SHARED) == 1
    bob = next(u for u in await users.all() if u.name == "bob")
    source = users.deck_source(bob)
    assert source.source == "none" and "plex.database_path" in source.fix


async def test_a_section_refused_to_a_home_user_keeps_the_token(
    gateway: PlexGateway, users: UserDirectory, library: Library, world: World,
    fake: FakePlexServer, box: Any, clock: Any,
) -> None:  # fmt: skip
    """A restricted Home user can get 401 rather than 404 for a section they are not given
    (DOMAIN.md, 2026): that section is skipped; the token is neither dropped nor switched again."""
    kid = world.add_user("kid", kind="home", libraries=["Kids"])
    world.set_progress(kid, show(world, "Bluey").seasons[0].episodes[1], 1000)
    await users.refresh()
    ondeck = make_ondeck(gateway, users, library, box, clock)
    for _ in range(2):
        result = await ondeck.collect()
        assert not result.failed
        assert [e.item.title for e in result.entries if e.username == "kid"] == ["Episode 2"]
    assert fake.counter.count(SWITCH) == 2  # alice and kid, once each
