"""The world builder: real files, Plex paths, mutations."""

from __future__ import annotations

from pathlib import Path

from cacherr.fakeplex import Episode, Movie, Show, World, demo_world
from cacherr.fakeplex.files import deterministic_bytes
from cacherr.fakeplex.views import on_deck


def _show(world: World, title: str) -> Show:
    return next(i for i in world.items.values() if isinstance(i, Show) and i.title == title)


def _movie(world: World, title: str) -> Movie:
    return next(i for i in world.items.values() if isinstance(i, Movie) and i.title == title)


def test_files_exist_under_array_root_with_plex_paths(world: World) -> None:
    ep = _show(world, "The Expanse").seasons[1].episodes[2]
    part = ep.media[0].parts[0]
    assert part.file == "/data/tv/The Expanse/Season 01/The Expanse - S01E03.mkv"
    path = world.physical_path(part)
    assert path == world.array_root / "tv/The Expanse/Season 01/The Expanse - S01E03.mkv"
    assert path.read_bytes() == deterministic_bytes(path.relative_to(world.array_root), 256)
    assert part.size == 256
    assert part.subtitle_files == ["/data/tv/The Expanse/Season 01/The Expanse - S01E03.en.srt"]
    assert (path.parent / "The Expanse - S01E03.en.srt").is_file()
    heat = _movie(world, "Heat").media[0].parts[0]
    assert heat.file == "/data/movies/Heat (1995)/Heat (1995).mkv"
    assert world.physical_path(heat).is_file()


def test_guids_and_specials(world: World) -> None:
    show = _show(world, "The Expanse")
    assert [s.index for s in show.seasons] == [0, 1, 2]
    assert show.plex_guid.startswith("plex://show/")
    ep = show.seasons[1].episodes[0]
    assert ep.plex_guid.startswith("plex://episode/")
    assert [g.split("://")[0] for g in ep.guids] == ["imdb", "tmdb", "tvdb"]


def test_add_episode_and_remove_file(world: World) -> None:
    show = _show(world, "The Expanse")
    new = world.add_episode(show, 2)
    assert (new.parent_index, new.index) == (2, 3)
    assert world.physical_path(new.media[0].parts[0]).is_file()
    removed = world.remove_file(new)
    assert not removed[0].exists()
    assert world.item(new.rating_key) is None
    assert new not in show.seasons[2].episodes


def test_on_deck_semantics(world: World) -> None:
    alice = world.user("alice")
    show = _show(world, "The Expanse")
    s1 = show.seasons[1].episodes
    world.watch(alice, s1[0])
    world.watch(alice, s1[1])
    libs = list(world.libraries.values())
    assert on_deck(world, alice, libs) == [s1[2]]
    world.set_progress(alice, s1[2], 60_000)
    assert on_deck(world, alice, libs) == [s1[2]]
    world.watch(alice, show.seasons[1])  # whole season -> next is S02E01
    deck = on_deck(world, alice, libs)
    assert isinstance(deck[0], Episode)
    assert (deck[0].parent_index, deck[0].index) == (2, 1)
    assert on_deck(world, world.owner, libs) == []


def test_session_stop_scrobbles_past_ninety_percent(world: World) -> None:
    bob = world.user("bob")
    heat = _movie(world, "Heat")
    sess = world.start_session(bob, heat, offset_ms=1000)
    world.progress_session(sess, int(heat.duration_ms * 0.95))
    world.stop_session(sess)
    assert bob.state(heat.rating_key).view_count == 1
    assert world.sessions == {}


def test_demo_world_is_consistent(tmp_path: Path) -> None:
    w = demo_world(tmp_path / "array", file_bytes=16)
    alice = w.user("alice")
    deck = on_deck(w, alice, [lib for lib in w.libraries.values() if not lib.hidden_from_home])
    assert [(e.parent_index, e.index) for e in deck if isinstance(e, Episode)] == [(1, 5)]
    assert len(w.sessions) == 1
    assert sum(1 for p in (tmp_path / "array").rglob("*.mkv")) > 50
