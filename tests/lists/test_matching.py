"""Entries → library items by id (IMDb → TMDb → TVDB), title and year only when allowed."""

from __future__ import annotations

from typing import Any

from cacherr.fakeplex import World
from cacherr.sources.lists import ListService, StoredItem

from . import samples
from .conftest import Box, Providers


def by_title(items: list[StoredItem]) -> dict[str, tuple[str, str | None, bool]]:
    return {i.entry.title: (i.match_state, i.rating_key, i.by_title) for i in items}


def key(world: World, title: str) -> str:
    return str(next(i.rating_key for i in world.items.values()
                    if getattr(i, "title", None) == title and hasattr(i, "year")))  # fmt: skip


async def refresh(service: ListService, box: Box, **definition: Any) -> list[StoredItem]:
    box.lists({"name": "l", **definition})
    status = await service.refresh("l")
    assert status.state in ("ok", "truncated"), status.error
    return await service.repo.items("l")


async def test_each_id_kind_matches(
    service: ListService, box: Box, providers: Providers, world: World
) -> None:
    providers.text("/feed", samples.RSS_FEED)
    items = await refresh(service, box, provider="rss", source=providers.url + "/feed")
    got = by_title(items)
    assert got["Inception"] == ("matched", key(world, "Inception"), False)  # IMDb, kind unknown
    assert got["Game of Thrones"] == ("matched", key(world, "Game of Thrones"), False)  # TMDb tv
    assert got["The Expanse"] == ("matched", key(world, "The Expanse"), False)  # TVDB
    assert items[0].entry.kind == "movie"  # takes the kind of what it matched

    providers.json("/3/list/8250", samples.TMDB_V3_LIST)
    tmdb = by_title(await refresh(service, box, provider="tmdb", source="list/8250"))
    assert tmdb["Inception"][:2] == ("matched", key(world, "Inception"))
    # TMDb 1399 is a show here; the local movie "Collide" also has tmdb://1399.
    assert tmdb["Game of Thrones"][:2] == ("matched", key(world, "Game of Thrones"))


async def test_imdb_comes_before_tmdb(
    service: ListService, box: Box, providers: Providers, world: World
) -> None:
    # IMDb says Heat, TMDb says Inception: IMDb wins.
    providers.json(
        "/mixed.json",
        [
            {"imdb_id": "tt0113277", "tmdb_id": 27205, "title": "X"},
            {"imdb_id": "tt0000001", "tmdb_id": 27205, "title": "Y"},
        ],
    )
    got = by_title(
        await refresh(service, box, provider="url", source=providers.url + "/mixed.json")
    )
    assert got["X"][1] == key(world, "Heat")
    assert got["Y"][1] == key(world, "Inception")  # unknown IMDb id, then TMDb


async def test_an_id_of_both_kinds_is_ambiguous_when_the_list_does_not_say(
    service: ListService, box: Box, providers: Providers
) -> None:
    providers.json("/ids.json", [1399])
    items = await refresh(service, box, provider="url", source=providers.url + "/ids.json")
    assert items[0].match_state == "ambiguous" and items[0].rating_key is None


async def test_title_fallback_off_and_on(
    service: ListService, box: Box, providers: Providers, world: World
) -> None:
    providers.json("/t.json", [
        {"title": "Home Video", "year": 2019, "imdb_id": "tt7777777", "type": "movie"},
        {"title": "home video", "year": 2018, "imdb_id": "tt7777778", "type": "movie"},
        {"title": "Solaris", "year": 2002, "imdb_id": "tt8888888", "type": "movie"},
    ])  # fmt: skip
    source = providers.url + "/t.json"
    off = await refresh(service, box, provider="url", source=source)
    assert [i.match_state for i in off] == ["not_in_library"] * 3

    on = await refresh(service, box, provider="url", source=source, title_fallback=True)
    assert (on[0].match_state, on[0].rating_key, on[0].by_title) == (
        "matched", key(world, "Home Video"), True)  # fmt: skip
    assert on[1].match_state == "not_in_library"  # the year differs
    assert on[2].match_state == "ambiguous"  # two local films called Solaris
    status = await service.repo.status("l")
    assert status.counts == {"matched": 1, "not_in_library": 1, "ambiguous": 1}


async def test_not_in_library_and_plex_down(
    service: ListService, box: Box, providers: Providers, fake_plex: Any
) -> None:
    providers.json("/users/sean/lists/p/items", samples.TRAKT_LIST_PAGE_2)
    items = await refresh(service, box, provider="trakt", source="sean/p")
    assert [i.match_state for i in items] == ["matched", "not_in_library"]
    await fake_plex.stop_listening()
    failed = await service.refresh("l")
    assert failed.state == "failed"
    assert failed.error is not None and "Plex cannot match them" in failed.error
    assert await service.repo.items("l") == items
    await fake_plex.resume_listening()
