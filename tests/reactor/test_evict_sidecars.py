"""A sidecar travels with its media file: evicting a movie takes its subtitles back too
(issue 14, item 4). Subtitles as Plex lists them: `<stem>.<lang>.srt` beside the media
file (Plex's "Adding Local Subtitles to Your Media" support article)."""

from __future__ import annotations

from pathlib import Path

from cacherr import keys
from cacherr.fakeplex import World
from cacherr.files.names import backup_path

from .flow import AppFactory, send, settle
from .test_end_to_end import is_cached, is_on_array, movie
from .test_evict import evict


async def test_evicting_a_movie_takes_its_subtitle_back(
    start_app: AppFactory, world: World, cache_root: Path
) -> None:
    world.add_movie("Alien", year=1979, subtitles=["en"])
    client = await start_app()
    alien = movie(world, "Alien")
    part = alien.media[0].parts[0]
    [subtitle_path] = part.subtitle_files
    media = world.physical_path(part)
    subtitle = media.with_name(subtitle_path.rsplit("/", 1)[1])
    cached_subtitle = cache_root / subtitle.relative_to(world.array_root)
    await send(client, "media.play", alien, world.user("alice"))
    await settle(client)
    assert is_cached(world, cache_root, alien)
    assert cached_subtitle.exists() and backup_path(subtitle).exists()

    status, _ = await evict(client, part.file)
    assert status == 202
    await settle(client)

    assert is_on_array(world, cache_root, alien)
    assert subtitle.exists() and not backup_path(subtitle).exists()
    assert not cached_subtitle.exists()
    store = client.app[keys.CACHE_ENGINE].store
    assert await store.for_path(subtitle_path) == []
