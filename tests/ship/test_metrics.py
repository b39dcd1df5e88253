"""`/metrics`: behind the API key, Prometheus text, values from real operations."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from cacherr import events, keys
from cacherr.config import ConfigStore
from cacherr.executor.queue import Executor
from cacherr.files.paths import PathResolver

Client = TestClient[Any, Any]


def value(text: str, sample: str) -> float:
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{sample} not in the metrics:\n{text}")


async def test_metrics_need_the_key_and_count_real_operations(
    client: Client, store: ConfigStore, tmp_path: Path
) -> None:
    assert (await client.get("/metrics")).status == 401
    assert store.current.web.api_key is not None
    key = store.current.web.api_key.get_secret_value()

    array, cache = tmp_path / "array", tmp_path / "cache"
    (array / "Show").mkdir(parents=True)
    cache.mkdir()
    payload = b"m" * 300_000
    (array / "Show" / "e1.mkv").write_bytes(payload)
    store.save({"paths": {"mappings": [
        {"name": "tv", "plex": "/data", "array": str(array), "cache": str(cache)}
    ]}})  # fmt: skip
    app = client.app
    executor = Executor(app[keys.DB], app[keys.BUS], lambda: store.current)
    await executor.start()
    resolver = PathResolver(store.current.paths.mappings)
    executor.submit("cache", resolver.from_plex("/data/Show/e1.mkv"))
    executor.submit("cache", resolver.from_plex("/data/Show/missing.mkv"))
    await executor.run_until_idle()
    await executor.close()
    before = await (await client.get("/metrics", params={"apikey": key})).text()
    app[keys.BUS].publish(events.CYCLE_COMPLETE, cached=1, duration_s=0.7)
    app[keys.BUS].publish(events.REACTION, user="alice", cached=1, latency_s=0.12)

    resp = await client.get("/metrics", params={"apikey": key})
    assert resp.status == 200
    assert resp.content_type == "text/plain"
    text = await resp.text()

    def grew(sample: str) -> float:
        return value(text, sample) - value(before, sample)

    assert (cache / "Show" / "e1.mkv").read_bytes() == payload
    assert value(text, 'cacherr_operations_total{kind="cache",result="done"}') == 1
    assert value(text, 'cacherr_operations_total{kind="cache",result="failed"}') == 1
    assert value(text, "cacherr_copied_bytes_total") == len(payload)
    assert value(text, "cacherr_cached_files") == 1
    assert value(text, "cacherr_cached_bytes") == len(payload)
    assert grew('cacherr_sweep_duration_seconds_bucket{le="0.5"}') == 0
    assert grew('cacherr_sweep_duration_seconds_bucket{le="1.0"}') == 1
    assert grew('cacherr_reaction_latency_seconds_bucket{le="0.1"}') == 0
    assert grew('cacherr_reaction_latency_seconds_bucket{le="0.25"}') == 1
    assert grew("cacherr_reaction_latency_seconds_count") == 1
    assert "# TYPE cacherr_plex_requests_total counter" in text
    for _ in range(100):  # the lag probe fires every 50 ms
        if value(text, "cacherr_event_loop_lag_seconds_count") >= 1:
            break
        await asyncio.sleep(0.05)
        text = await (await client.get("/metrics", params={"apikey": key})).text()
    assert value(text, "cacherr_event_loop_lag_seconds_count") >= 1
    assert 0 <= value(text, "cacherr_event_loop_lag_max_seconds") < 5
    assert key not in text


def test_plex_endpoints_fold_ids_and_never_carry_tokens() -> None:
    from cacherr.plex.transport import endpoint_template

    assert endpoint_template("http://p:32400/library/metadata/123/children?a=1") == (
        "/library/metadata/{id}/children"
    )
    assert endpoint_template("https://plex.tv/api/v2/user") == "/api/v2/user"
    feed = "https://rss.plex.tv/3f2a9c1e-aaaa-bbbb-cccc-123456789abc"
    assert endpoint_template(feed) == "/{id}"


async def test_start_up_objects_are_frozen_out_of_full_collections(client: Client) -> None:
    """Frozen objects sit in the permanent generation: no collection visits them, and
    `gc.get_objects()` (generations 0-2) does not list them. The app, its router and its
    settings are built by this test's fixture, so only the app's own start-up froze them."""
    built_at_start = [client.app, client.app.router, client.app[keys.CONFIG].current]
    gc.collect()  # collecting does not thaw them
    tracked = {id(o) for o in gc.get_objects()}
    assert [id(o) in tracked for o in built_at_start] == [False, False, False]
    assert all(gc.is_tracked(o) for o in built_at_start)
    late = [object()]  # made after start-up: an ordinary, collectable object
    assert any(o is late for o in gc.get_objects())
