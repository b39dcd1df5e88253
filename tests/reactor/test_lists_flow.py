"""An import list takes effect as soon as it is refreshed, and the sweep keeps it."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestServer

from cacherr import keys
from cacherr.fakeplex import World

from .flow import AppFactory, settle
from .test_end_to_end import is_cached, is_on_array, movie


async def test_a_refreshed_list_caches_its_movie_and_the_sweep_keeps_it(
    start_app: AppFactory, world: World, cache_root: Path
) -> None:
    heat = movie(world, "Heat")
    imdb = next(g for g in heat.guids if g.startswith("imdb://")).removeprefix("imdb://")

    async def picks(_request: web.Request) -> web.Response:
        return web.json_response([{"imdb_id": imdb, "title": "Heat", "year": 1995}])

    provider = web.Application()
    provider.router.add_get("/picks.json", picks)
    server = TestServer(provider)
    await server.start_server()
    try:
        source = str(server.make_url("/picks.json"))
        definition = {"name": "picks", "provider": "url", "source": source}
        client = await start_app(lists={"definitions": [definition]})
        key = client.app[keys.CONFIG].current.web.api_key
        assert key is not None
        headers = {"X-Api-Key": key.get_secret_value()}
        assert is_on_array(world, cache_root, heat)

        resp = await client.post("/api/lists/picks/refresh", headers=headers)
        assert resp.status == 200, await resp.text()
        await settle(client)
        assert is_cached(world, cache_root, heat)

        resp = await client.post("/api/sweep", headers=headers)
        assert resp.status == 202
        await settle(client)
        assert is_cached(world, cache_root, heat)
        holders = {c.user_id for c in await client.app[keys.CACHE_ENGINE].store.for_source("list")}
        assert holders == {"list:picks"}
    finally:
        await server.close()
