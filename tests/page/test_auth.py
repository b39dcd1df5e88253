"""Security on by default: the API key, the login, sessions, the Origin check, secrets."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cacherr import keys
from cacherr.api.auth import is_protected
from cacherr.config import ConfigStore
from cacherr.security import setup_code
from cacherr.security.sessions import COOKIE_NAME

Client = TestClient[Any, Any]
PASSWORD = "correct horse battery"


def origin(client: Client) -> dict[str, str]:
    url = client.make_url("/")
    return {"Origin": f"{url.scheme}://{url.host}:{url.port}"}


def api_key(store: ConfigStore) -> str:
    assert store.current.web.api_key is not None
    return store.current.web.api_key.get_secret_value()


def protected_routes(client: Client) -> list[tuple[str, str]]:
    found = []
    for route in client.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if not path or route.method == "HEAD" or not is_protected(path):
            continue
        found.append((route.method, re.sub(r"\{[^}]+\}", "1", path)))
    return found


async def test_every_route_but_the_open_ones_needs_credentials(client: Client) -> None:
    routes = protected_routes(client)
    assert ("POST", "/api/security/api-key/reveal") in routes
    assert ("GET", "/metrics") in routes
    for method, path in routes:
        resp = await client.request(method, path)
        assert resp.status == 401, f"{method} {path} answered {resp.status} without credentials"
        if path.startswith("/api/"):
            assert (await resp.json())["error"]["code"] == "unauthorized"
    for path in ("/api/health", "/api/auth/status", "/", "/static/app.js"):
        assert (await client.get(path)).status == 200, path


async def test_the_api_key_opens_the_api_by_header_or_query(
    client: Client, store: ConfigStore
) -> None:
    key = api_key(store)
    resp = await client.post("/api/security/api-key/reveal", headers={"X-Api-Key": key})
    assert resp.status == 403  # the key itself is shown only to a person on the page
    wrong = await client.post("/api/security/api-key/reveal", headers={"X-Api-Key": "nope"})
    assert wrong.status == 401
    via_query = await client.post(f"/api/security/api-key/reveal?apikey={key}")
    assert via_query.status == 403


def code(client: Client) -> str:
    """The set-up code, as printed in the log and kept in the config folder."""
    found = setup_code.read(client.app[keys.CONFIG].config_dir)
    assert found is not None
    return found


async def _setup(client: Client) -> None:
    body = {"username": "admin", "password": PASSWORD, "code": code(client)}
    resp = await client.post("/api/auth/setup", json=body, headers=origin(client))
    assert resp.status == 200, await resp.text()


async def test_the_first_visit_sets_the_login_and_gets_a_strict_httponly_cookie(
    client: Client, store: ConfigStore
) -> None:
    status = await (await client.get("/api/auth/status")).json()
    assert status["data"]["setup_required"] is True
    weak = await client.post(
        "/api/auth/setup",
        json={"username": "admin", "password": "short", "code": code(client)},
        headers=origin(client),
    )
    assert weak.status == 400
    resp = await client.post(
        "/api/auth/setup",
        json={"username": "admin", "password": PASSWORD, "code": code(client)},
        headers=origin(client),
    )
    assert resp.status == 200
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert store.current.web.username == "admin"
    assert store.current.web.password_hash is not None
    stored = store.current.web.password_hash.get_secret_value()
    assert stored.startswith("scrypt$") and PASSWORD not in stored
    assert PASSWORD not in store.path.read_text()
    again = await client.post(
        "/api/auth/setup", json={"username": "evil", "password": PASSWORD}, headers=origin(client)
    )
    assert again.status == 409
    revealed = await client.post("/api/security/api-key/reveal", headers=origin(client))
    assert (await revealed.json())["data"]["api_key"] == api_key(store)


async def test_cookie_state_changes_need_our_origin(client: Client) -> None:
    await _setup(client)
    no_origin = await client.post("/api/security/api-key/reveal")
    assert no_origin.status == 403
    foreign = await client.post(
        "/api/security/api-key/reveal", headers={"Origin": "http://evil.example"}
    )
    assert foreign.status == 403
    referer = await client.post(
        "/api/security/api-key/reveal", headers={"Referer": str(client.make_url("/"))}
    )
    assert referer.status == 200


async def test_login_gives_a_fresh_session_and_logout_ends_it(client: Client) -> None:
    await _setup(client)
    fixed = client.session.cookie_jar.filter_cookies(client.make_url("/"))[COOKIE_NAME].value
    await client.post("/api/auth/logout", headers=origin(client))
    assert (await client.post("/api/security/api-key/reveal", headers=origin(client))).status == 401
    client.session.cookie_jar.update_cookies({COOKIE_NAME: fixed})
    assert (await client.post("/api/security/api-key/reveal", headers=origin(client))).status == 401
    resp = await client.post(
        "/api/auth/login", json={"username": "admin", "password": PASSWORD}, headers=origin(client)
    )
    assert resp.status == 200
    fresh = client.session.cookie_jar.filter_cookies(client.make_url("/"))[COOKIE_NAME].value
    assert fresh != fixed
    assert (await client.post("/api/security/api-key/reveal", headers=origin(client))).status == 200


async def test_failed_logins_are_rate_limited(client: Client) -> None:
    await _setup(client)
    for _ in range(5):
        resp = await client.post(
            "/api/auth/login",
            json={"username": "admin", "password": "wrong"},
            headers=origin(client),
        )
        assert resp.status == 401
    blocked = await client.post(
        "/api/auth/login", json={"username": "admin", "password": PASSWORD}, headers=origin(client)
    )
    assert blocked.status == 429
    assert (await blocked.json())["error"]["details"]["retry_after_s"] > 0


async def test_regenerating_the_key_retires_the_old_one(client: Client, store: ConfigStore) -> None:
    await _setup(client)
    old = api_key(store)
    resp = await client.post("/api/security/api-key/regenerate", headers=origin(client))
    new = (await resp.json())["data"]["api_key"]
    assert new != old and api_key(store) == new
    probe = "/api/security/api-key/reveal"
    assert (await client.post(probe, headers={"X-Api-Key": old})).status == 401
    assert (await client.post(probe, headers={"X-Api-Key": new})).status == 403


async def test_changing_the_password_ends_other_sessions(client: Client) -> None:
    await _setup(client)
    wrong = await client.post(
        "/api/security/password",
        json={"current": "nope", "new": "another good one"},
        headers=origin(client),
    )
    assert wrong.status == 401
    resp = await client.post(
        "/api/security/password",
        json={"current": PASSWORD, "new": "another good one"},
        headers=origin(client),
    )
    assert resp.status == 200
    await client.post("/api/auth/logout", headers=origin(client))
    old = await client.post(
        "/api/auth/login", json={"username": "admin", "password": PASSWORD}, headers=origin(client)
    )
    assert old.status == 401


async def test_malformed_login_bodies_get_clear_errors(client: Client) -> None:
    for body in (b"{not json", b"[]", b'{"username": ""}'):
        headers = {**origin(client), "Content-Type": "application/json"}
        resp = await client.post("/api/auth/login", data=body, headers=headers)
        assert resp.status == 400
        assert (await resp.json())["message"]


@pytest.fixture
def env_login(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CACHERR_WEB__USERNAME", "ops")
    monkeypatch.setenv("CACHERR_WEB__PASSWORD", PASSWORD)


@pytest.mark.usefixtures("env_login")
async def test_the_login_can_come_from_the_environment(client: Client) -> None:
    status = await (await client.get("/api/auth/status")).json()
    assert status["data"]["setup_required"] is False
    resp = await client.post(
        "/api/auth/login", json={"username": "ops", "password": PASSWORD}, headers=origin(client)
    )
    assert resp.status == 200


async def test_auth_none_opens_the_api_for_lan_only_users(
    aiohttp_client: Any, config_dir: Any
) -> None:
    from cacherr.app import create_app

    store = ConfigStore.open(config_dir)
    store.save({"web": {"auth": "none"}})
    client = await aiohttp_client(create_app(store))
    status = await (await client.get("/api/auth/status")).json()
    assert status["data"]["mode"] == "none" and status["data"]["logged_in"] is True
    reveal = "/api/security/api-key/reveal"
    assert (await client.post(reveal, headers=origin(client))).status == 200
    # Open to the LAN, not to the web pages its people visit (issue 15, item 2): every state
    # change needs the page's own Origin, also in this mode; a script sends the API key.
    assert (await client.post(reveal)).status == 403
    assert (await client.post(reveal, headers={"Origin": "http://evil.example"})).status == 403
    assert (await client.post("/api/sweep", headers={"Origin": "null"})).status == 403
    key = {"X-Api-Key": api_key(store)}
    assert (await client.post("/api/sweep", headers=key)).status != 403
