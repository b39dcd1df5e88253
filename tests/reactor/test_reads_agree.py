"""One cached file, one size: the reads of `files.queries` agree wherever a file is shown.

A real play caches the next episode and its subtitle (real files, real SQLite, the simulated
Plex). The subtitle is copied as a file of its own, so the planner and the engine's index
(refreshed as each copy finished) count the episode by its own bytes; the page's files list
shows the subtitle under its episode and counts both.
"""

from __future__ import annotations

from pathlib import Path

from cacherr import keys
from cacherr.fakeplex import World

from .flow import AppFactory, api_key, send
from .test_end_to_end import episode

EPISODE = "tv/The Expanse/Season 02/The Expanse - S02E01.mkv"
SUBTITLE = "tv/The Expanse/Season 02/The Expanse - S02E01.en.srt"


async def test_a_cached_episode_has_one_size_in_the_index_the_planner_and_the_page(
    start_app: AppFactory, world: World, cache_root: Path
) -> None:
    client = await start_app()
    await send(client, "media.play", episode(world, "The Expanse", 1, 3), world.owner)
    own, subtitle = ((cache_root / rel).stat().st_size for rel in (EPISODE, SUBTITLE))
    engine = client.app[keys.CACHE_ENGINE]
    (path,) = [p for p in engine.index.managed_files if p.endswith("S02E01.mkv")]

    indexed = engine.index.managed(path)
    assert indexed is not None and indexed.size_bytes == own
    planned = {f.plex_path: f.size_bytes for f in await engine.store.managed()}
    assert planned[path] == own
    resp = await client.get("/api/files", params={"q": "S02E01"}, headers=api_key(client))
    (listed,) = (await resp.json())["data"]["items"]
    assert (listed["path"], listed["size_bytes"], listed["sidecars"]) == (path, own + subtitle, 1)
