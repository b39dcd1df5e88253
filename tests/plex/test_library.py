"""Resolution: files of every version, episodes in order, next episodes, runtime prefetch."""

from __future__ import annotations

import asyncio
from typing import Any
from xml.etree import ElementTree as ET

from cacherr.fakeplex import FakePlexServer, Movie, Show, World
from cacherr.plex.library import Library, items_from_xml

LEAVES = "/library/metadata/{rk}/allLeaves"
METADATA = "/library/metadata/{rk}"


def show(world: World, title: str) -> Show:
    return next(i for i in world.items.values() if isinstance(i, Show) and i.title == title)


def movie(world: World, title: str) -> Movie:
    return next(i for i in world.items.values() if isinstance(i, Movie) and i.title == title)


async def test_item_files_every_version_or_the_preferred(
    library: Library, world: World, box: Any
) -> None:
    heat = movie(world, "Heat")
    heat.media[1].video_resolution = "4k"
    ref = await library.item(str(heat.rating_key))
    assert ref.type == "movie" and ref.title == "Heat" and ref.section_id == 2
    assert ref.files == [m.parts[0].file for m in heat.media]
    assert heat.plex_guid in ref.guids and heat.guids[0] in ref.guids
    box.patch("plex", versions="preferred", preferred_resolution="4k")
    assert (await library.item(str(heat.rating_key))).files == [heat.media[1].parts[0].file]
    box.patch("plex", preferred_resolution="720")  # none has it: Plex's first choice
    assert (await library.item(str(heat.rating_key))).files == [heat.media[0].parts[0].file]


async def test_episodes_in_order_across_seasons_specials_on_request(
    library: Library, world: World, box: Any
) -> None:
    expanse = show(world, "The Expanse")
    eps = await library.episodes(str(expanse.rating_key))
    assert [(e.season, e.episode) for e in eps] == [(1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (2, 3)]
    assert all(e.show_key == str(expanse.rating_key) and len(e.files) == 1 for e in eps)
    box.patch("plex", include_specials=True)
    eps = await library.episodes(str(expanse.rating_key))
    assert (eps[0].season, eps[0].episode) == (0, 1) and len(eps) == 7


async def test_next_episodes_cross_seasons_watched_or_not(
    library: Library, world: World, fake: FakePlexServer
) -> None:
    expanse = show(world, "The Expanse")
    s1e2 = expanse.seasons[1].episodes[1]
    world.watch(world.owner, expanse.seasons[2].episodes[0])  # a rewatch needs it too
    nxt = await library.next_episodes(str(s1e2.rating_key), 3)
    assert [(e.season, e.episode) for e in nxt] == [(1, 3), (2, 1), (2, 2)]
    assert fake.counter.count(METADATA) == 1 and fake.counter.count(LEAVES) == 1
    last = expanse.seasons[2].episodes[2]
    assert await library.next_episodes(str(last.rating_key), 3) == []


async def test_a_burst_costs_one_call_per_show(
    library: Library, world: World, fake: FakePlexServer
) -> None:
    expanse, bluey = show(world, "The Expanse"), show(world, "Bluey")
    keys = [(str(e.rating_key), str(s.rating_key)) for s in (expanse, bluey) for e in s.episodes()]
    results = await asyncio.gather(
        *(library.next_episodes(rk, 2, show_key=sk) for rk, sk in keys * 5)
    )
    assert len(results) == len(keys) * 5
    assert fake.counter.count(LEAVES) == 2 and fake.counter.count(METADATA) == 0
    await library.next_episodes(keys[0][0], 2)  # show learnt from the cache: no lookup
    assert fake.counter.count(METADATA) == 0


async def test_invalidate_sees_a_new_episode(
    library: Library, world: World, fake: FakePlexServer
) -> None:
    expanse = show(world, "The Expanse")
    last = expanse.seasons[2].episodes[2]
    assert await library.next_episodes(str(last.rating_key), 2) == []
    new = world.add_episode(expanse, 3)
    assert await library.next_episodes(str(last.rating_key), 2) == []  # still cached
    library.invalidate(str(expanse.rating_key))
    nxt = await library.next_episodes(str(last.rating_key), 2)
    assert [e.rating_key for e in nxt] == [str(new.rating_key)]


async def test_sections_filtered_by_setting(library: Library, box: Any) -> None:
    assert [(s.id, s.title, s.hidden) for s in await library.sections()] == [
        (1, "TV Shows", False), (2, "Movies", False), (3, "Kids", True),
    ]  # fmt: skip
    box.patch("plex", sections=["Kids", "2"])
    assert [s.title for s in await library.sections()] == ["Movies", "Kids"]


async def test_trailers_and_music_tracks_are_never_movies(
    library: Library, world: World, box: Any
) -> None:
    """Plex's extras are `type="clip"` (plexapi's Clip, TYPE "clip", with `extraType`) and
    music is `<Track>` (plexapi audio.Track); neither is a movie to cache."""
    trailer = world.add_trailer(movie(world, "Heat"))
    track = world.add_track("Song 2")
    clip = await library.item(str(trailer.rating_key))
    assert clip.type == "other" and clip.files  # known, with a file, and still not a movie
    assert (await library.item(str(track.rating_key))).type == "other"
    mixed = ET.Element("MediaContainer")
    mixed.append(ET.Element("Video", ratingKey="9", type="clip", title="Trailer"))
    mixed.append(ET.Element("Track", ratingKey="8", type="track", title="Song"))
    mixed.append(ET.Element("Video", ratingKey="7", type="movie", title="Heat"))
    assert [i.title for i in items_from_xml(mixed, box().plex)] == ["Heat"]
