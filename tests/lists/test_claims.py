"""Lists → `list` claims: strict and fill, air dates, episodes per show, the scheduler."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cacherr.claims import Claim, ClaimStore
from cacherr.fakeplex import Show, World
from cacherr.sources.lists import FillRoom, ListScheduler, ListService, holder

from . import samples
from .conftest import Box, Providers, list_claims

FOUR_FILMS = [{"imdb_id": "tt1375666", "title": "Inception"},  # 1000 bytes
              {"imdb_id": "tt0113277", "title": "Heat"},  # 2000
              {"imdb_id": "tt2543164", "title": "Arrival"},  # 3000
              {"imdb_id": "tt1160419", "title": "Dune"}]  # 4000  # fmt: skip


def names(claims: list[Claim]) -> list[str]:
    return [c.plex_path.rsplit("/", 1)[-1] for c in claims]


def show(world: World, title: str) -> Show:
    return next(i for i in world.items.values() if isinstance(i, Show) and i.title == title)


async def setup(service: ListService, box: Box, providers: Providers, rows: list[Any],
                **definition: Any) -> None:  # fmt: skip
    providers.json("/l.json", rows)
    box.lists({"name": "l", "provider": "url", "source": providers.url + "/l.json", **definition})
    status = await service.refresh("l")
    assert status.state == "ok", status.error


async def test_strict_list_claims_in_order_up_to_max(
    service: ListService, box: Box, providers: Providers, claims: ClaimStore
) -> None:
    providers.json("/users/sean/lists/p/items",
                   samples.TRAKT_LIST_PAGE_1 + samples.TRAKT_LIST_PAGE_2)  # fmt: skip
    box.lists({"name": "p", "provider": "trakt", "source": "sean/p", "max_items": 2,
               "episodes_per_show": 2, "priority": 10})  # fmt: skip
    await service.refresh("p")
    stored = await claims.for_user(holder("p"), "list")
    assert names(sorted(stored, key=lambda c: -c.priority)) == [
        "Inception (2010).mkv",
        "Game of Thrones - S01E01.mkv",
        "Game of Thrones - S01E02.mkv",
    ]
    first = next(c for c in stored if "Inception" in c.plex_path)
    assert first.source == "list" and first.priority == 210.0
    assert first.reason == "#1 on list 'p': Inception"
    assert all(c.priority < first.priority for c in stored if c is not first)
    episode = next(c for c in stored if "S01E01" in c.plex_path)
    assert episode.reason == "#2 on list 'p': Game of Thrones S01E01"
    assert episode.show_key is not None


async def test_episodes_per_show_are_the_first_unwatched_for_the_lists_users(
    service: ListService, box: Box, providers: Providers, world: World
) -> None:
    got = show(world, "Game of Thrones")
    episodes = got.episodes()
    world.watch(world.owner, episodes[0])
    alice = world.user("alice")
    world.watch(alice, episodes[0])
    world.watch(alice, episodes[1])
    rows = [{"tvdb_id": 121361, "title": "Game of Thrones"}]
    await setup(service, box, providers, rows, episodes_per_show=1)
    assert names(await list_claims(service)) == ["Game of Thrones - S01E02.mkv"]
    await setup(service, box, providers, rows, episodes_per_show=1, users=["alice"])
    assert names(await list_claims(service)) == ["Game of Thrones - S01E03.mkv"]
    await setup(service, box, providers, rows, episodes_per_show=1, users=["alice", "owner"])
    assert names(await list_claims(service)) == [
        "Game of Thrones - S01E02.mkv", "Game of Thrones - S01E03.mkv"]  # fmt: skip


async def test_air_date_filter(service: ListService, box: Box, providers: Providers) -> None:
    today = dt.date.today()
    rows = [{"imdb_id": "tt1375666", "release_date": (today - dt.timedelta(days=10)).isoformat()},
            {"imdb_id": "tt0113277", "release_date": (today - dt.timedelta(days=400)).isoformat()},
            {"imdb_id": "tt2543164"}]  # fmt: skip
    await setup(service, box, providers, rows, released_within_days=30)
    assert names(await list_claims(service)) == ["Inception (2010).mkv"]
    await setup(service, box, providers, rows, released_within_days=365 * 2)
    assert names(await list_claims(service)) == ["Inception (2010).mkv", "Heat (1995).mkv"]
    await setup(service, box, providers, rows)
    assert len(await list_claims(service)) == 3


async def test_fill_list_takes_what_fits_in_order_at_a_low_priority(
    service: ListService, box: Box, providers: Providers
) -> None:
    await setup(service, box, providers, FOUR_FILMS, mode="fill")
    room = FillRoom(free_bytes=3500)
    taken = await list_claims(service, room)
    # 1000 + 2000 fit; Arrival (3000) does not, and Dune never jumps ahead of it.
    assert names(taken) == ["Inception (2010).mkv", "Heat (1995).mkv"]
    assert all(c.priority < 100 and c.reason.startswith("fill: ") for c in taken)
    assert names(await list_claims(service, FillRoom(free_bytes=500))) == []

    await setup(service, box, providers, FOUR_FILMS, mode="fill", fill_limit="1500B")
    assert names(await list_claims(service, room)) == ["Inception (2010).mkv"]
    # Without the sweep's word on the room, the fill limit alone bounds it.
    assert names(await list_claims(service)) == ["Inception (2010).mkv"]
    await setup(service, box, providers, FOUR_FILMS, mode="fill", fill_limit="50%")
    half = FillRoom(free_bytes=10_000, pool_total_bytes=7000)
    assert names(await list_claims(service, half)) == [
        "Inception (2010).mkv",
        "Heat (1995).mkv",
    ]

    await setup(service, box, providers, FOUR_FILMS, max_items=3)
    strict = await list_claims(service, FillRoom(free_bytes=0))  # strict ignores room
    assert names(strict) == ["Inception (2010).mkv", "Heat (1995).mkv", "Arrival (2016).mkv"]
    assert min(c.priority for c in strict) > 190


async def test_scheduler_refreshes_due_lists_and_releases_removed_ones(
    service: ListService, box: Box, providers: Providers, claims: ClaimStore
) -> None:
    providers.json("/a.json", FOUR_FILMS[:1])
    providers.json("/b.json", FOUR_FILMS[1:2])
    a = {"name": "a", "provider": "url", "source": providers.url + "/a.json"}
    b = {"name": "b", "provider": "url", "source": providers.url + "/b.json"}
    box.lists(a, b)
    scheduler = ListScheduler(service, tick_s=60)
    assert await scheduler.run_once() == ["a", "b"]
    assert await scheduler.run_once() == []  # not due before refresh_interval_s
    scheduler.request("b")
    assert await scheduler.run_once() == ["b"]
    assert {c.user_id for c in await claims.for_source("list")} == {holder("a"), holder("b")}

    box.lists(a, {**b, "enabled": False})
    assert (await service.claims_by_holder())[holder("b")] == []
    await scheduler.run_once()
    assert {c.user_id for c in await claims.for_source("list")} == {holder("a")}
    box.lists()
    await scheduler.run_once()
    assert await claims.for_source("list") == []
    assert await service.repo.statuses() == {}

    box.lists(a)
    await scheduler.start()
    scheduler.request("a")
    await scheduler.close()
