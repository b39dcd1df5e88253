"""After Cacherr cached a file it restarts, and `cacherr check` agrees with the API's audit;
adopting a duplicate through the API shows its compare's progress.

In symlink mode the array name of a cached file is Cacherr's own symlink to the cache copy:
the start-up union check must not take it for a union (issue 14, item 5), and files Cacherr
cached itself are never "adoptable", whether the daemon runs or not (item 15).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import locate, media_bytes, put_media

from cacherr import keys
from cacherr.app import create_app
from cacherr.checks import check_audit, check_paths, fatal
from cacherr.config import ConfigStore
from cacherr.config.models import Mapping
from cacherr.db import DB_NAME, Database
from cacherr.events import OPERATION_COMPLETE, OPERATION_PROGRESS, OPERATION_STARTED
from cacherr.files.model import ProtocolOptions
from cacherr.files.paths import check_mappings
from cacherr.files.protocol import cache_file

API_KEY = "restart-check-api-key-0123456789"
REL = "Show/Season 01/Show - S01E01.mkv"


@pytest.mark.parametrize("mode", ["union", "symlink"])
async def test_a_cached_file_neither_stops_a_restart_nor_looks_adoptable(
    aiohttp_client: Any, config_dir: Path, mapping: Mapping, mode: str
) -> None:
    store = ConfigStore.open(config_dir)
    store.save(
        {
            "paths": {"mode": mode, "mappings": [mapping.model_dump()]},
            "cache": {"min_free": "0B", "limit": "100%"},
            "web": {"api_key": API_KEY},
        }
    )
    db_path = config_dir / DB_NAME
    db = await Database.open(db_path)
    loc = locate(mapping, REL)
    put_media(loc, media_bytes(300_000))
    options = ProtocolOptions(mode=mode, min_free="0B", limit="100%")  # type: ignore[arg-type]
    assert (await cache_file(db, loc, options)).result == "done"
    assert loc.array_path.is_symlink() == (mode == "symlink")

    # Cacherr's own symlink is no union: the start-up check and `cacherr check` pass.
    assert check_mappings([mapping]) == []
    assert fatal(check_paths(store.current)) == []
    # Stopped (the database closed, as after a crash or `docker stop`):
    await db.close()
    [stopped] = check_audit(store.current, db_path)
    assert stopped.ok, stopped.line()

    # The daemon starts on it and its audit reports nothing; `check` agrees while it runs.
    client = await aiohttp_client(create_app(store), headers={"X-Api-Key": API_KEY})
    body = await (await client.get("/api/maintenance/audit")).json()
    assert body["data"]["findings"] == []
    [running] = check_audit(store.current, db_path)
    assert running.ok, running.line()
    await client.close()

    # Without the database's word the same files are adoptable (what the check said before).
    [blind] = check_audit(store.current)
    assert not blind.ok and "1 adoptable" in blind.detail


async def test_adopting_a_duplicate_through_the_api_publishes_its_compare_progress(
    aiohttp_client: Any, config_dir: Path, mapping: Mapping
) -> None:
    store = ConfigStore.open(config_dir)
    store.save({"paths": {"mappings": [mapping.model_dump()]}, "web": {"api_key": API_KEY}})
    loc = locate(mapping, REL)
    data = media_bytes(9 * 2**20)
    for path in (loc.array_path, loc.cache_path):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    client = await aiohttp_client(create_app(store), headers={"X-Api-Key": API_KEY})
    seen: list[dict[str, Any]] = []
    client.app[keys.BUS].listen(lambda e: seen.append({"type": e.type, **e.data}))
    [finding] = (await (await client.get("/api/maintenance/audit")).json())["data"]["findings"]
    ref = {k: finding[k] for k in ("kind", "mapping", "rel", "side")}

    resp = await client.post("/api/maintenance/fix", json={"findings": [ref]})

    assert (await resp.json())["data"]["fixed"] == 1
    compares = [d for d in seen if d.get("kind") == "compare"]
    assert [d["type"] for d in compares][:: len(compares) - 1] == [
        OPERATION_STARTED,
        OPERATION_COMPLETE,
    ]
    progress = [d for d in compares if d["type"] == OPERATION_PROGRESS]
    assert progress and progress[-1]["bytes_done"] == progress[-1]["size"] == len(data)
    assert {d["id"] for d in compares} == {compares[0]["id"]} and compares[0]["id"] < 0
    assert {d["path"] for d in compares} == {loc.plex_path}
