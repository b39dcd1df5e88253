"""Security: every route's credentials, CSRF, the session cookie, login limiting, secrets.

The route table is walked, not listed, so a route added later is checked too. The secrets
scenario runs the daemon end to end (play → cache → sweep → settings read and write →
audit) and looks for every secret in every answer, every log record and every Socket.IO
event.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import socketio
from aiohttp import web

from cacherr import keys
from cacherr.api.auth import is_protected
from cacherr.app import create_app
from cacherr.config import ConfigStore
from cacherr.db import DB_NAME, Database
from cacherr.fakeplex import World
from cacherr.security.sessions import COOKIE_NAME
from tests.hardening.conftest import (
    SECRETS,
    Client,
    ClientFactory,
    journal_rows,
    password_hash,
    plex_form,
    plex_payload,
    settle,
)

SAFE = {"GET", "HEAD", "OPTIONS"}
EVIL = "http://evil.example"


def routes(app: web.Application) -> Iterator[tuple[str, str]]:
    """(method, a concrete path) of every route in the table."""
    for route in app.router.routes():
        if route.method == "HEAD" or route.resource is None:
            continue
        info = route.resource.get_info()
        raw = info.get("path") or info.get("formatter")
        if not raw or "socket.io" in raw:
            continue
        yield route.method, re.sub(r"\{[^}]+\}", "1", raw)


def own_origin(client: Client) -> dict[str, str]:
    url = client.make_url("/")
    return {"Origin": f"{url.scheme}://{url.host}:{url.port}"}


async def log_in(client: Client) -> str:
    resp = await client.post(
        "/api/auth/login",
        json={"username": "admin", "password": SECRETS["password"]},
        headers=own_origin(client),
    )
    assert resp.status == 200, await resp.text()
    return resp.cookies[COOKIE_NAME].value


@pytest.fixture
async def anon(aiohttp_client: ClientFactory, hstore: ConfigStore) -> Client:
    """The real app, no credentials sent by default."""
    return await aiohttp_client(create_app(hstore))


# --- credentials on every route ---------------------------------------------------------


async def test_every_protected_route_refuses_no_key_and_a_wrong_key(anon: Client) -> None:
    checked = 0
    for method, path in routes(anon.app):
        if not is_protected(path):
            continue
        for headers in ({}, {"X-Api-Key": "wrong"}):
            resp = await anon.request(method, path, headers=headers, json={})
            assert resp.status == 401, (method, path, headers, await resp.text())
            if path.startswith("/api/"):
                body = await resp.json()
                assert body["success"] is False and body["error"]["code"] == "unauthorized"
        resp = await anon.request(method, path + "?apikey=wrong", json={})
        assert resp.status == 401, (method, path)
        checked += 1
    assert checked > 35


async def test_only_the_documented_routes_are_open(anon: Client) -> None:
    open_api = {p for _, p in routes(anon.app) if p.startswith("/api/") and not is_protected(p)}
    assert open_api == {
        "/api/health", "/api/openapi.json", "/api/auth/status", "/api/auth/setup",
        "/api/auth/login", "/api/auth/logout", "/api/webhooks/plex", "/api/webhooks/tautulli",
    }  # fmt: skip
    for hook in ("/api/webhooks/plex", "/api/webhooks/tautulli"):
        for query in ("", "?secret=", "?secret=wrong", f"?secret={SECRETS['webhook']}x"):
            resp = await anon.post(hook + query, json={"action": "play", "rating_key": "1"})
            assert resp.status == 401, (hook, query)


async def refused(client: Client, **kw: Any) -> None:
    sio = socketio.AsyncClient(reconnection=False)
    try:
        with pytest.raises(socketio.exceptions.ConnectionError):
            await sio.connect(str(client.make_url("/")), transports=["websocket"], **kw)
    finally:
        if sio.eio.http is not None:  # a refused client keeps its HTTP session open
            await sio.eio.http.close()


async def test_socketio_needs_credentials(anon: Client) -> None:
    await refused(anon)
    await refused(anon, auth={"apikey": "wrong"})


# --- CSRF -------------------------------------------------------------------------------


async def test_a_logged_in_cookie_from_another_origin_changes_nothing(anon: Client) -> None:
    await log_in(anon)
    before = anon.app[keys.CONFIG].path.read_bytes()
    checked = 0
    for method, path in routes(anon.app):
        if method in SAFE or not path.startswith("/api/") or path.startswith("/api/webhooks/"):
            continue
        for headers in ({"Origin": EVIL}, {"Referer": EVIL + "/page"}, {"Origin": "null"}, {}):
            resp = await anon.request(method, path, headers=headers, json={})
            assert resp.status == 403, (method, path, headers, await resp.text())
        checked += 1
    assert checked > 15
    # Still logged in (logout was refused too), and nothing was saved.
    assert (await anon.get("/api/status")).status == 200
    assert anon.app[keys.CONFIG].path.read_bytes() == before


async def test_socketio_refuses_a_cookie_from_another_origin(anon: Client) -> None:
    token = await log_in(anon)
    await refused(anon, headers={"Cookie": f"{COOKIE_NAME}={token}", "Origin": EVIL})


# --- the session cookie -----------------------------------------------------------------


async def test_the_session_cookie_flags(anon: Client) -> None:
    resp = await anon.post(
        "/api/auth/login",
        json={"username": "admin", "password": SECRETS["password"]},
        headers=own_origin(anon),
    )
    morsel = resp.cookies[COOKIE_NAME]
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "Strict"
    assert morsel["path"] == "/"
    assert int(morsel["max-age"]) > 0
    assert len(morsel.value) >= 40


async def test_no_session_fixation(anon: Client) -> None:
    planted = "attacker-chosen-session-value-0123456789abcdef"
    anon.session.cookie_jar.update_cookies({COOKIE_NAME: planted})
    assert (await anon.get("/api/status")).status == 401
    issued = await log_in(anon)
    assert issued != planted
    sessions = anon.app[keys.SESSIONS]
    assert await sessions.get(planted) is None
    # Logging in again replaces the session; the old token stops working.
    second = await log_in(anon)
    assert second != issued and await sessions.get(issued) is None
    # Logging out ends it on the server, not only in the browser.
    await anon.post("/api/auth/logout", headers=own_origin(anon))
    assert await sessions.get(second) is None


# --- login limiting ---------------------------------------------------------------------


async def test_failed_logins_are_limited_then_even_the_right_password_waits(
    anon: Client,
) -> None:
    wrong = {"username": "admin", "password": "not-it"}
    for _ in range(5):
        resp = await anon.post("/api/auth/login", json=wrong, headers=own_origin(anon))
        assert resp.status == 401
    right = {"username": "admin", "password": SECRETS["password"]}
    resp = await anon.post("/api/auth/login", json=right, headers=own_origin(anon))
    assert resp.status == 429
    body = await resp.json()
    assert body["error"]["details"]["retry_after_s"] > 0


async def test_parallel_guesses_do_not_get_past_the_limit(anon: Client) -> None:
    # Found here: every guess in flight passed the limit check before any had failed, so 40
    # parallel guesses were all tried against the password.
    wrong = {"username": "admin", "password": "not-it"}
    answers = await asyncio.gather(
        *(anon.post("/api/auth/login", json=wrong, headers=own_origin(anon)) for _ in range(40))
    )
    statuses = sorted(r.status for r in answers)
    assert statuses.count(401) <= 5, statuses
    assert statuses.count(429) >= 35, statuses


# --- secrets never leave ----------------------------------------------------------------


class Everything(logging.Handler):
    """Every log record of every logger, formatted as it would be written."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        text = self.format(record)
        if record.exc_info:
            text += self.formatException(record.exc_info)
        self.lines.append(text)


@pytest.fixture
def all_logs() -> Iterator[Everything]:
    """Every logger at DEBUG, except those the daemon holds at INFO (cli._QUIET_LOGGERS)."""
    handler = Everything()
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    held = {n: logging.getLogger(n).level for n in _QUIET}
    for name, level in _QUIET.items():
        logging.getLogger(name).setLevel(level)
    yield handler
    root.removeHandler(handler)
    root.setLevel(old)
    for name, level in held.items():
        logging.getLogger(name).setLevel(level)


# The daemon's own logging set-up keeps these at INFO (their DEBUG lines print SQL
# parameters and request URLs); the test server's access log is off in the daemon too.
_QUIET = dict.fromkeys(("aiosqlite", "urllib3", "requests", "engineio", "socketio"), logging.INFO)
_QUIET["aiohttp.access"] = logging.WARNING


class _Person:
    """The same client, sending only its cookies (no API key)."""

    def __init__(self, client: Client) -> None:
        self.client = client


def secret_values(world: World) -> dict[str, str]:
    values = dict(SECRETS)
    values["password_hash"] = password_hash()
    values["plex_token"] = world.owner.token
    for user in world.users:
        values[f"token:{user.title}"] = user.token
    values["apprise_token"] = "apprise-secret-4242"
    values["rss_token"] = "friends-feed-token-6e6e"
    return values


def leaks(text: str, values: dict[str, str]) -> list[str]:
    return [name for name, value in values.items() if value and value in text]


async def test_no_secret_in_any_answer_log_or_event(
    anon: Client, world: World, all_logs: Everything
) -> None:
    values = secret_values(world)
    # One app per config folder: calls as a script add the key, a person's the login cookie.
    daemon, person = anon, _Person(anon)
    assert await anon.app[keys.PLEX].wait_settled(5) == "connected"
    key = {"X-Api-Key": SECRETS["api_key"]}
    answers: list[tuple[str, str]] = []

    async def call(client: Client | _Person, method: str, path: str, **kw: Any) -> Any:
        if isinstance(client, _Person):
            client = client.client
        elif client is daemon:
            kw["headers"] = {**kw.get("headers", {}), **key}
        resp = await client.request(method, path, **kw)
        text = await resp.text()
        answers.append((f"{method} {path} {resp.status}", text + str(dict(resp.headers))))
        return resp

    received: list[Any] = []
    sio = socketio.AsyncClient(reconnection=False)

    @sio.on("*")
    async def _any(name: str, body: Any) -> None:
        received.append((name, body))

    await sio.connect(
        str(daemon.make_url("/")), transports=["websocket"], auth={"apikey": SECRETS["api_key"]}
    )
    bus = daemon.app[keys.BUS].subscribe(maxsize=100_000)
    try:
        # Play → cache.
        episode = next(it for it in world.items.values() if getattr(it, "title", "") == "Episode 1")
        alice = world.user("alice")
        world.start_session(alice, episode)
        payload = plex_payload("media.play", world, alice, str(episode.rating_key))
        await call(daemon, "POST", f"/api/webhooks/plex?secret={SECRETS['webhook']}",
                   data=plex_form(payload))  # fmt: skip
        await settle(daemon.app)
        # A list whose URL carries a token.
        list_url = f"{daemon.make_url('/nowhere')}?token={SECRETS['list_token']}"
        await call(daemon, "POST", "/api/lists",
                   json={"name": "tokened", "provider": "url", "source": list_url})  # fmt: skip
        await call(daemon, "POST", "/api/lists/tokened/refresh")
        # Sweep.
        world.set_progress(world.user("bob"), episode, 60_000)
        await call(daemon, "POST", "/api/sweep")
        await daemon.app[keys.SWEEPER].run_until_idle()
        await settle(daemon.app)
        # Settings read and write, as a script and as a person on the page.
        await call(daemon, "GET", "/api/settings")
        await call(daemon, "PATCH", "/api/settings", json={"cache": {"next_episodes": 3}})
        await call(daemon, "PATCH", "/api/settings", json={"plex": {"token": "x" * 3}})
        await call(daemon, "PATCH", "/api/settings", json={"plex": {"token": None}})
        await log_in(anon)
        await call(person, "GET", "/api/settings")
        await call(person, "PATCH", "/api/settings", json={"retention": {"hours": 2}},
                   headers=own_origin(anon))  # fmt: skip
        await call(person, "POST", "/api/settings/plex/test", json={}, headers=own_origin(anon))
        await call(person, "POST", "/api/notifications/test", headers=own_origin(anon))
        # Audit, and every GET of the API.
        await call(daemon, "GET", "/api/maintenance/audit")
        for method, path in routes(daemon.app):
            if method == "GET":
                await call(daemon, method, path)
                await call(person, method, path)
        await call(daemon, "GET", "/metrics")
        await asyncio.sleep(0.3)  # let the notifier's batch and the page's events go out
    finally:
        await sio.disconnect()
        bus.close()
    events = []
    while True:
        try:
            events.append(bus.get_nowait().as_dict())
        except asyncio.QueueEmpty:
            break
    assert len(answers) > 40 and len(events) > 10 and received
    assert any(row["state"] == "done" for row in await journal_rows(daemon.app))
    for where, text in answers:
        assert not leaks(text, values), (where, leaks(text, values), text[:300])
    for line in all_logs.lines:
        assert not leaks(line, values), (leaks(line, values), line[:500])
    for event in [*events, *received]:
        assert not leaks(str(event), values), (leaks(str(event), values), str(event)[:500])


# --- issue 15: the Plex token goes only to the saved Plex ---------------------------------


async def test_the_saved_plex_token_is_never_sent_to_another_address(
    daemon: Client, aiohttp_server: Any, world: World
) -> None:
    """plex/test sends the saved token only to the saved URL; a new URL needs its token typed."""
    seen: list[str] = []

    async def record(request: web.Request) -> web.Response:
        seen.append(request.headers.get("X-Plex-Token", ""))
        return web.json_response({"MediaContainer": {"friendlyName": "trap"}})

    trap = web.Application()
    trap.router.add_get("/", record)
    server = await aiohttp_server(trap)
    trap_url = str(server.make_url("/"))

    refused = await daemon.post("/api/settings/plex/test", json={"url": trap_url})
    assert refused.status == 400
    assert "enter the token" in (await refused.json())["message"]
    assert seen == []
    # The saved address still works with the saved token, written either way.
    saved_url = daemon.app[keys.CONFIG].current.plex.url
    for body in ({}, {"url": saved_url + "/"}):
        resp = await daemon.post("/api/settings/plex/test", json=body)
        assert (await resp.json())["data"]["ok"] is True, body
    # A token typed with the new address is the user's choice to send there.
    typed = await daemon.post("/api/settings/plex/test", json={"url": trap_url, "token": "typed"})
    assert typed.status == 200
    assert seen == ["typed"]
    assert world.owner.token not in seen


# --- issue 15: a broken edit never echoes its values ---------------------------------------


async def test_a_broken_edit_never_shows_the_values_it_holds(
    daemon: Client, hstore: ConfigStore, all_logs: Everything
) -> None:
    """A misspelt `plex.Token` and a numeric `web.api_key`: health, activity, events and the
    log name the fields, never their values."""
    typo_token, numeric_key = "typo-token-3b3b3b3b", 987654321987654321
    bus = daemon.app[keys.BUS].subscribe(maxsize=10_000)
    data = json.loads(hstore.path.read_text())
    data["plex"]["Token"] = typo_token
    data["web"]["api_key"] = numeric_key
    hstore.path.write_text(json.dumps(data))
    deadline = asyncio.get_running_loop().time() + 20
    while hstore.problem is None:
        assert asyncio.get_running_loop().time() < deadline, "the edit was never noticed"
        await asyncio.sleep(0.05)
    health = await (await daemon.get("/api/health")).text()
    activity = await (await daemon.get("/api/activity")).text()
    await asyncio.sleep(0.1)  # the activity log and the page's events go out on the loop
    events = []
    with contextlib.suppress(asyncio.QueueEmpty):
        while True:
            events.append(str(bus.get_nowait().as_dict()))
    bus.close()
    assert "plex.Token" in health and "web.api_key" in health
    shown = [health, activity, hstore.problem, *events, *all_logs.lines]
    for text in shown:
        assert typo_token not in text and str(numeric_key) not in text, text[:300]


# --- issue 15: the database is the owner's alone -------------------------------------------


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The usual umask (022): without care, new files would be world-readable (0644)."""
    old = os.umask(0o022)
    yield
    os.umask(old)


async def test_the_database_and_its_wal_and_shm_are_owner_only(
    open_umask: None, daemon: Client, hstore: ConfigStore, world: World
) -> None:
    """cacherr.db holds Home and shared users' Plex tokens and the login sessions."""
    await daemon.post("/api/users/refresh")
    db_path = hstore.config_dir / DB_NAME
    files = [db_path, *(db_path.with_name(DB_NAME + end) for end in ("-wal", "-shm"))]
    assert all(path.exists() for path in files)
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


async def test_an_older_world_readable_database_is_made_owner_only(
    open_umask: None, tmp_path: Path
) -> None:
    path = tmp_path / DB_NAME
    sqlite3.connect(path).close()
    path.chmod(0o644)
    db = await Database.open(path)
    try:
        await db.execute("INSERT INTO kv (key, value) VALUES ('k', 'v')")
        for file in (path, path.with_name(DB_NAME + "-wal"), path.with_name(DB_NAME + "-shm")):
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
    finally:
        await db.close()
