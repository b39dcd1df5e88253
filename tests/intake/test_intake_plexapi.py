"""Snapshots from the real plexapi, through the real gateway, against the simulated Plex."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cacherr.config.models import PlexConfig, SessionsConfig
from cacherr.events import EventBus
from cacherr.fakeplex import Episode, FakePlexServer, Movie, Show, World, start_fake_plex
from cacherr.plex.gateway import PlexGateway
from cacherr.plex.status import PlexStatus
from cacherr.sources.playback import PlaybackStream
from cacherr.sources.sessions import SessionPoller
from cacherr.sources.snapshots import provider_from_gateway


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = World(array_root=tmp_path / "array", plex_root="/data", file_bytes=16)
    w.add_show("The Expanse", seasons={1: 3}, year=2015)
    w.add_movie("Heat", year=1995)
    w.add_user("bob", kind="shared")
    return w


@pytest.fixture
async def gateway(world: World) -> AsyncIterator[PlexGateway]:
    server: FakePlexServer = await start_fake_plex(world)
    config = PlexConfig.model_validate(
        {"url": server.url, "token": world.owner.token, "timeout_s": 2, "retries": 0}
    )
    gw = PlexGateway(lambda: config, PlexStatus("connecting"), EventBus(), probe_min_s=0.05)
    await gw.start()
    await gw.wait_settled(5)
    yield gw
    await gw.close()
    await server.close()


def _episode(world: World) -> Episode:
    show = next(i for i in world.items.values() if isinstance(i, Show))
    return next(s for s in show.seasons if s.index == 1).episodes[1]


def _movie(world: World) -> Movie:
    return next(i for i in world.items.values() if isinstance(i, Movie))


async def test_plexapi_sessions_map_to_snapshots(gateway: PlexGateway, world: World) -> None:
    fetch = provider_from_gateway(gateway)
    assert await fetch() == []
    ep, movie = _episode(world), _movie(world)
    world.start_session(world.user("bob"), ep, offset_ms=30_000, player="Bedroom")
    world.start_session(world.owner, movie, state="paused", player="Living Room TV")

    snapshots = {s.media_type: s for s in await fetch()}
    episode = snapshots["episode"]
    assert (episode.rating_key, episode.parent_rating_key, episode.grandparent_rating_key) == (
        str(ep.rating_key), str(ep.season.rating_key), str(ep.season.show.rating_key),
    )  # fmt: skip
    assert (episode.username, episode.user_id) == ("bob", str(world.user("bob").id))
    assert (episode.player, episode.state, episode.view_offset_ms) == ("Bedroom", "playing", 30_000)
    assert episode.duration_ms == ep.duration_ms
    assert episode.file_paths == [p.file for m in ep.media for p in m.parts]
    assert episode.title.startswith("The Expanse – S01E02 – ")
    assert episode.started_at is not None

    film = snapshots["movie"]
    assert (film.rating_key, film.state, film.username) == (
        str(movie.rating_key), "paused", world.owner.title,
    )  # fmt: skip
    assert (film.parent_rating_key, film.grandparent_rating_key) == (None, None)
    assert film.file_paths == [p.file for m in movie.media for p in m.parts]


async def test_the_poller_over_the_gateway_sees_a_play_and_a_stop(
    gateway: PlexGateway, world: World
) -> None:
    stream = PlaybackStream()
    poller = SessionPoller(
        provider_from_gateway(gateway), stream, EventBus(), config=lambda: SessionsConfig()
    )
    session = world.start_session(world.user("bob"), _episode(world))
    await poller.poll_once()
    path = _episode(world).media[0].parts[0].file
    assert poller.is_active(path)
    world.stop_session(session)
    await poller.poll_once()
    assert [stream.get_nowait().kind for _ in range(2)] == ["play", "stop"]
    assert not poller.is_active(path)


async def test_a_transcoding_session_without_part_file_still_protects_the_file(
    gateway: PlexGateway, world: World
) -> None:
    """Plex lists a transcoding session's output media, whose parts name no file
    (wnielson/Plex-Remote-Transcoder#58: "the plex sessions XML no longer includes a
    filename"); the poller reads the files from the item's metadata instead."""
    poller = SessionPoller(
        provider_from_gateway(gateway), PlaybackStream(), EventBus(), config=SessionsConfig
    )
    episode = _episode(world)
    world.start_session(world.user("bob"), episode, transcoding=True)
    raw = await gateway.query("/status/sessions")
    assert [p.get("file") for p in raw.iter("Part")] == [None]
    await poller.poll_once()
    assert poller.is_active(episode.media[0].parts[0].file)
