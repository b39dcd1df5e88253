"""The maintenance audit and its fixes; no GET route ever answers a configured secret."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from cacherr.api.auth import is_protected
from cacherr.config import ConfigStore
from cacherr.db import Database
from cacherr.security import setup_code

Client = TestClient[Any, Any]
PASSWORD = "correct horse battery"


async def test_audit_then_adopt(api: Client, media: dict[str, Path], seeded: Database) -> None:
    (media["array"] / "Old Show").mkdir()
    (media["array"] / "Old Show/E1.mkv.plexcached").write_bytes(b"a" * 100)
    (media["cache"] / "Old Show").mkdir()
    (media["cache"] / "Old Show/E1.mkv").write_bytes(b"a" * 100)
    report = (await (await api.get("/api/maintenance/audit")).json())["data"]
    assert report["counts"]["adoptable"] == 1
    finding = report["findings"][0]
    assert finding["rel"] == "Old Show/E1.mkv"
    assert finding["fix"] == "adopt"
    ref = {k: finding[k] for k in ("kind", "mapping", "rel", "side")}
    resp = await api.post("/api/maintenance/fix", json={"findings": [ref]})
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["data"]["fixed"] == 1
    assert body["message"] == "1 of 1 fixed"
    files = (await (await api.get("/api/files?q=old show")).json())["data"]["items"]
    assert [f["name"] for f in files] == ["E1.mkv"]
    assert files[0]["adopted"] is True
    again = await api.post("/api/maintenance/fix", json={"findings": [ref]})
    assert again.status == 404
    assert (await api.post("/api/maintenance/fix", json={"findings": []})).status == 400


def _get_routes(client: Client) -> list[tuple[str, bool]]:
    """Every GET route under /api/ and /metrics (a path parameter filled with "1"), and
    whether it had one ("1" names nothing there: any answer but a secret will do)."""
    found = []
    for route in client.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if route.method == "GET" and path and (path.startswith("/api/") or path == "/metrics"):
            filled = re.sub(r"\{[^}]+\}", "1", path)
            found.append((filled, filled != path))
    return found


def _secret_values(store: ConfigStore, password: str) -> list[str]:
    s = store.current
    values = [password]
    for secret in (s.web.api_key, s.webhook.secret, s.plex.token, s.plex.friends_watchlist_rss,
                   s.lists.trakt_client_id, s.lists.tmdb_api_key, s.web.password_hash,
                   *s.notifications.urls):  # fmt: skip
        assert secret is not None
        values.append(secret.get_secret_value())
    return values


QUERIES = {
    "/api/claims/simulate": "?size_bytes=100",
    "/api/settings/resolve": "?plex_path=/data/tv/a.mkv",
}


async def test_no_get_route_answers_a_secret(
    api: Client, api_store: ConfigStore, seeded: Database
) -> None:
    url = api.make_url("/")
    origin = {"Origin": f"{url.scheme}://{url.host}:{url.port}", "X-Api-Key": ""}
    code = setup_code.read(api_store.config_dir)  # as printed in the log
    assert code is not None
    setup = await api.post(
        "/api/auth/setup",
        json={"username": "admin", "password": PASSWORD, "code": code},
        headers=origin,
    )
    assert setup.status == 200
    secrets = [*_secret_values(api_store, PASSWORD), code]
    routes = _get_routes(api)
    assert {"/api/settings", "/api/status", "/api/stats", "/api/files"} <= {p for p, _ in routes}
    key_header = dict(api.session.headers)
    for via in ("api key", "session"):
        if via == "session":
            api.session.headers.pop("X-Api-Key", None)
        for path, has_param in routes:
            resp = await api.get(path + QUERIES.get(path, ""))
            text = await resp.text()
            if is_protected(path) and not has_param:
                assert resp.status == 200, f"{path} via {via}: {resp.status} {text[:200]}"
            for secret in secrets:
                assert secret not in text, f"GET {path} via {via} answered a secret"
    api.session.headers.update(key_header)
