"""A ready-made world for ``cacherr demo`` and exploratory runs."""

from __future__ import annotations

from pathlib import Path

from .world import World


def demo_world(
    array_root: Path | str, plex_root: str = "/data", *, file_bytes: int = 64 * 1024
) -> World:
    """Two libraries plus a hidden kids library, a home member and two friends mid-series.

    Alice (home) is half-way through The Expanse and an episode is playing; Bob (friend)
    has Heat in progress and a title on his watchlist; the owner watchlists Dune.
    """
    w = World(array_root=array_root, plex_root=plex_root, file_bytes=file_bytes)
    expanse = w.add_show("The Expanse", seasons={0: 2, 1: 10, 2: 13}, year=2015, subtitles=["en"])
    severance = w.add_show("Severance", seasons={1: 9, 2: 10}, year=2022)
    heat = w.add_movie("Heat", year=1995)
    w.add_movie("Alien", year=1979, subtitles=["en", "fr"])
    w.add_movie("Arrival", year=2016, resolution="4k")
    w.add_library("Kids", "show", hidden_from_home=True)
    bluey = w.add_show("Bluey", seasons={1: 12}, library="Kids")

    alice = w.add_user("alice", kind="home")
    bob = w.add_user("bob", kind="shared")
    w.add_user("carol", kind="shared", libraries=["Movies"])

    season1 = expanse.seasons[1].episodes
    for ep in season1[:4]:
        w.watch(alice, ep)
    w.start_session(alice, season1[4], offset_ms=600_000, player="Living Room TV")
    w.watch(alice, bluey.seasons[0].episodes[0])
    w.set_progress(bob, heat, 2_400_000)
    w.watch(bob, severance.seasons[0].episodes[0])
    w.add_to_watchlist(bob, w.add_catalog_title("Blade Runner 2049", "movie", 2017))
    w.add_to_watchlist(w.owner, w.add_catalog_title("Dune: Part Two", "movie", 2024))
    w.add_to_watchlist(alice, severance)
    return w
