"""`/api/settings`: the whole configuration, secrets write-only, env-locked fields refused."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cacherr.config import ConfigStore
from cacherr.fakeplex import World, start_fake_plex

Client = TestClient[Any, Any]


def saved(store: ConfigStore) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(store.path.read_text())
    return data


async def test_get_shows_secrets_only_as_set(api: Client, api_store: ConfigStore) -> None:
    data = (await (await api.get("/api/settings")).json())["data"]
    settings = data["settings"]
    assert settings["plex"]["token"] == {"set": True}
    assert settings["plex"]["friends_watchlist_rss"] == {"set": True}
    assert settings["web"]["api_key"] == {"set": True}
    assert settings["web"]["password_hash"] == {"set": False}
    assert settings["webhook"]["secret"] == {"set": True}
    assert settings["notifications"]["urls"] == {"set": True, "count": 1}
    assert settings["lists"]["tmdb_api_key"] == {"set": True}
    assert settings["paths"]["mappings"][0]["name"] == "tv"
    assert "plex.token" in data["secrets"]
    assert data["schema"]["properties"]["cache"]
    assert data["locked"] == []


async def test_patch_saves_to_the_file(api: Client, api_store: ConfigStore) -> None:
    resp = await api.patch("/api/settings", json={"cache": {"next_episodes": 7}})
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["message"] == "Settings saved"
    assert body["data"]["settings"]["cache"]["next_episodes"] == 7
    assert saved(api_store)["cache"]["next_episodes"] == 7
    assert api_store.current.cache.next_episodes == 7
    port = await api.patch("/api/settings", json={"web": {"port": 6000}})
    assert (await port.json())["data"]["restart_required"] == ["web.port"]


async def test_patch_errors_name_the_field(api: Client, api_store: ConfigStore) -> None:
    before = api_store.path.read_text()
    resp = await api.patch(
        "/api/settings", json={"cache": {"next_episodes": -1, "evict_target": 99}}
    )
    assert resp.status == 400
    body = await resp.json()
    fields = {d["path"] for d in body["error"]["details"]}
    assert "cache.next_episodes" in fields
    assert api_store.path.read_text() == before
    unknown = await api.patch("/api/settings", json={"cache": {"colour": "red"}})
    assert unknown.status == 400
    assert "cache.colour" in {d["path"] for d in (await unknown.json())["error"]["details"]}
    for bad in ([], {}, "x"):
        assert (await api.patch("/api/settings", json=bad)).status == 400


async def test_secrets_are_write_only(api: Client, api_store: ConfigStore) -> None:
    echo = await api.patch("/api/settings", json={"plex": {"token": {"set": True}}})
    assert echo.status == 200
    assert api_store.current.plex.token is not None
    assert api_store.current.plex.token.get_secret_value() == "plex-token-c0ffee-0001"
    new = await api.patch("/api/settings", json={"plex": {"token": "new-token-9"}})
    assert "new-token-9" not in await new.text()
    assert saved(api_store)["plex"]["token"] == "new-token-9"
    cleared = await api.patch("/api/settings", json={"lists": {"tmdb_api_key": ""}})
    assert (await cleared.json())["data"]["settings"]["lists"]["tmdb_api_key"] == {"set": False}


@pytest.mark.parametrize(
    "patch",
    [
        {"web": {"api_key": "mine"}},
        {"web": {"password_hash": "x"}},
        {"web": {"username": "root"}},
        {"schema_version": 1},
    ],
)
async def test_credentials_have_their_own_routes(api: Client, patch: dict[str, Any]) -> None:
    resp = await api.patch("/api/settings", json=patch)
    assert resp.status == 400
    assert "use " in (await resp.json())["message"]


async def test_env_locked_fields_are_flagged_and_refused(
    api: Client, api_store: ConfigStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CACHERR_SESSIONS__POLL_INTERVAL_S", "30")
    data = (await (await api.get("/api/settings")).json())["data"]
    assert "sessions.poll_interval_s" in data["locked"]
    resp = await api.patch("/api/settings", json={"sessions": {"poll_interval_s": 5}})
    assert resp.status == 400
    body = await resp.json()
    assert "CACHERR_SESSIONS__POLL_INTERVAL_S" in body["message"]
    assert body["error"]["details"][0]["field"] == "sessions.poll_interval_s"
    other = await api.patch("/api/settings", json={"sessions": {"enabled": False}})
    assert other.status == 200


async def test_resolve_preview(api: Client, media: dict[str, Path]) -> None:
    data = (
        await (await api.get("/api/settings/resolve?plex_path=/data/tv/Show/S01E01.mkv")).json()
    )["data"]
    assert data["ok"] is True
    assert data["mapping"] == "tv"
    assert data["array_path"] == str(media["array"] / "Show/S01E01.mkv")
    assert data["cache_path"] == str(media["cache"] / "Show/S01E01.mkv")
    assert data["exists"] == {"array": False, "backup": False, "cache": False}
    for path, reason in (
        ("/data/movies/x.mkv", "under no configured path mapping"),
        ("/data/tv/../../etc/passwd", "under no configured path mapping"),
        ("/data/tv/x.mkv.plexcached", "backup or temp"),
    ):
        refused = await (await api.get("/api/settings/resolve", params={"plex_path": path})).json()
        assert refused["data"]["ok"] is False
        assert reason in refused["data"]["reason"], refused
    trial = json.dumps([{"name": "m", "plex": "/data/movies", "array": "/a", "cache": "/c"}])
    tried = await api.get(
        "/api/settings/resolve", params={"plex_path": "/data/movies/x.mkv", "mappings": trial}
    )
    assert (await tried.json())["data"]["cache_path"] == "/c/x.mkv"
    assert (await api.get("/api/settings/resolve")).status == 400
    bad = await api.get("/api/settings/resolve", params={"plex_path": "/x", "mappings": "[{}]"})
    assert bad.status == 400


async def test_plex_connection_test(api: Client, tmp_path: Path) -> None:
    world = World(array_root=tmp_path / "plexfiles", plex_root="/data", file_bytes=16)
    server = await start_fake_plex(world)
    try:
        good = await api.post(
            "/api/settings/plex/test", json={"url": server.url, "token": world.owner.token}
        )
        data = (await good.json())["data"]
        assert data["ok"] is True, data
        assert data["machine_identifier"] == world.machine_identifier
        assert world.owner.token not in await good.text()
        wrong = await api.post("/api/settings/plex/test", json={"url": server.url, "token": "nope"})
        assert (await wrong.json())["data"] == {
            "ok": False,
            "reason": "Plex refused the token (401)",
            "url": server.url,
        }
    finally:
        await server.close()
    down = await api.post("/api/settings/plex/test", json={"url": server.url, "token": "t"})
    assert (await down.json())["data"]["ok"] is False
    assert (await api.post("/api/settings/plex/test", json={"url": "ftp://x"})).status == 400


async def test_list_urls_keep_their_tokens_hidden(api: Client, api_store: ConfigStore) -> None:
    url = "https://lists.example/feed.rss?token=list-token-4242"
    definition = {"name": "feed", "provider": "rss", "source": url}
    api_store.save({"lists": {"definitions": [definition]}})
    resp = await api.get("/api/settings")
    assert "list-token-4242" not in await resp.text()
    shown = (await resp.json())["data"]["settings"]["lists"]["definitions"][0]
    assert shown["source"] == "https://lists.example/feed.rss?…"
    echo = await api.patch(
        "/api/settings", json={"lists": {"definitions": [{**shown, "max_items": 10}]}}
    )
    assert echo.status == 200, await echo.text()
    assert "list-token-4242" not in await echo.text()
    assert api_store.current.lists.definitions[0].source == url
    assert api_store.current.lists.definitions[0].max_items == 10


@pytest.mark.parametrize("nested", ["same", "cache_above", "array_above"])
async def test_patch_refuses_mappings_start_up_would_refuse(
    api: Client, api_store: ConfigStore, media: dict[str, Path], nested: str
) -> None:
    # Saved, they would keep the next start from starting (or lose data until then).
    array, cache = media["array"], media["cache"]
    mapping = {
        "same": {"array": str(array), "cache": str(array)},
        "cache_above": {"array": str(array), "cache": str(array.parent)},
        "array_above": {"array": str(cache.parent), "cache": str(cache)},
    }[nested]
    before = api_store.path.read_bytes()
    resp = await api.patch(
        "/api/settings",
        json={"paths": {"mappings": [{"name": "tv", "plex": "/data/tv", **mapping}]}},
    )
    body = await resp.json()
    assert resp.status == 400, body
    assert body["error"]["details"][0]["path"].startswith("paths.mappings")
    assert "folder" in body["message"]
    assert api_store.path.read_bytes() == before
    assert api_store.current.paths.mappings[0].cache == str(cache)
    ok = await api.patch("/api/settings", json={"cache": {"next_episodes": 3}})
    assert ok.status == 200, await ok.text()


# (section, field, base value) each PATCH below changes alone; round r writes base + r.
FIELDS = [
    ("plex", "retries", 5), ("plex", "min_interval_ms", 60), ("plex", "max_per_minute", 60),
    ("cache", "next_episodes", 60), ("cache", "prefetch_minutes", 60),
    ("cache", "copy_concurrency", 10), ("cache", "restore_concurrency", 10),
    ("watchlist", "episodes", 60), ("sweep", "interval_s", 60),
    ("sessions", "scrobble_percent", 60), ("users", "inactive_days", 60),
    ("plex", "plextv_min_interval_ms", 60),
]  # fmt: skip


async def test_concurrent_patches_lose_no_update_and_listeners_run_on_the_loop(
    api: Client, api_store: ConfigStore
) -> None:
    threads: list[int] = []
    api_store.on_change(lambda _old, _new: threads.append(threading.get_ident()))
    for round_ in range(1, 4):
        answers = await asyncio.gather(
            *(
                api.patch("/api/settings", json={section: {name: base + round_}})
                for section, name, base in FIELDS
            )
        )
        assert [a.status for a in answers] == [200] * len(FIELDS)
        on_file = saved(api_store)
        for section, name, base in FIELDS:
            assert getattr(getattr(api_store.current, section), name) == base + round_
            assert on_file[section][name] == base + round_, (section, name)
    assert set(threads) == {threading.get_ident()} and len(threads) >= 3 * len(FIELDS)
