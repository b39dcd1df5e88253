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
import socket
import sqlite3
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import socketio
from aiohttp import web

from cacherr import keys
from cacherr.api.auth import is_protected
from cacherr.app import create_app
from cacherr.config import ConfigStore
from cacherr.db import DB_NAME, Database
from cacherr.fakeplex import World
from cacherr.security import setup_code
from cacherr.security.sessions import COOKIE_NAME
from tests.foundation.test_cli import cacherr, free_port, wait_healthy
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
from tests.waiting import until

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
        await daemon.app[keys.NOTIFIER].run_until_idle()  # its batch has gone out
        await until(lambda: bool(received))  # the page's events arrive over the socket
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


# --- issue 15: no web page can post to Cacherr, in any auth mode ---------------------------


@pytest.fixture
async def open_lan(aiohttp_client: ClientFactory, hstore: ConfigStore) -> Client:
    """The real app with `web.auth = none`, no credentials sent."""
    hstore.save({"web": {"auth": "none"}})
    return await aiohttp_client(create_app(hstore))


async def test_with_auth_none_a_foreign_page_cannot_post_or_send_text_plain(
    open_lan: Client, aiohttp_server: Any
) -> None:
    """What a page on another site can send without asking (a form, or fetch with text/plain
    and no-cors) carries its own Origin, or none at all, and is not JSON."""
    seen: list[str] = []

    async def record(request: web.Request) -> web.Response:
        seen.append(request.headers.get("X-Plex-Token", ""))
        return web.json_response({"MediaContainer": {}})

    trap = web.Application()
    trap.router.add_get("/", record)
    trap_url = str((await aiohttp_server(trap)).make_url("/"))
    as_text = {"Content-Type": "text/plain"}
    body = json.dumps({"url": trap_url})
    for headers in ({"Origin": EVIL}, {"Origin": "null"}, {"Referer": EVIL + "/page"}, {}):
        for path, data in (
            ("/api/settings/plex/test", body),
            ("/api/security/api-key/reveal", ""),
            ("/api/sweep", ""),
        ):
            resp = await open_lan.post(path, data=data, headers={**headers, **as_text})
            assert resp.status == 403, (path, headers, resp.status)
    cross = {**own_origin(open_lan), "Sec-Fetch-Site": "cross-site"}
    assert (await open_lan.post("/api/sweep", headers=cross)).status == 403
    # Our own page may, but only with JSON.
    plain = await open_lan.post(
        "/api/settings/plex/test", data=body, headers={**own_origin(open_lan), **as_text}
    )
    assert plain.status == 415
    patch = await open_lan.patch(
        "/api/settings", data=b'{"cache": {"next_episodes": 9}}', headers=own_origin(open_lan)
    )
    assert patch.status == 415
    assert open_lan.app[keys.CONFIG].current.cache.next_episodes != 9
    assert seen == []
    ours = await open_lan.patch(
        "/api/settings", json={"cache": {"next_episodes": 9}}, headers=own_origin(open_lan)
    )
    assert ours.status == 200


async def test_a_logged_in_page_must_send_json(anon: Client) -> None:
    await log_in(anon)
    plain = await anon.patch(
        "/api/settings",
        data=b'{"retention": {"hours": 1}}',
        headers={**own_origin(anon), "Content-Type": "text/plain"},
    )
    assert plain.status == 415
    assert "application/json" in (await plain.json())["message"]


async def test_webhooks_keep_plex_multipart_and_tautulli_json(daemon: Client, world: World) -> None:
    """No Origin, any Host: Plex and Tautulli are not pages; the secret guards them.

    Plex posts multipart/form-data with a `payload` part (Plex support, "Webhooks",
    support.plex.tv/articles/115002267687-webhooks); Tautulli's webhook agent posts the JSON
    body the user templates (docs/tautulli.md; Tautulli wiki, "Notification Agents Guide")."""
    episode = next(it for it in world.items.values() if getattr(it, "title", "") == "Episode 1")
    payload = plex_payload("media.play", world, world.user("alice"), str(episode.rating_key))
    foreign = {"Host": "plex-sender.example:32400", "X-Api-Key": ""}
    resp = await daemon.post(
        f"/api/webhooks/plex?secret={SECRETS['webhook']}",
        data=plex_form(payload),
        headers=foreign,
    )
    assert resp.status == 202, await resp.text()
    tautulli = {"action": "play", "rating_key": str(episode.rating_key), "user_id": "1"}
    resp = await daemon.post(
        f"/api/webhooks/tautulli?secret={SECRETS['webhook']}", json=tautulli, headers=foreign
    )
    assert resp.status in (200, 202), await resp.text()


# --- issue 15: the first login needs the set-up code, and our own name -------------------


@pytest.fixture
async def fresh(
    aiohttp_client: ClientFactory, config_dir: Path, caplog: pytest.LogCaptureFixture
) -> Client:
    """A fresh install: no login yet, the start-up log captured."""
    caplog.set_level(logging.INFO, logger="cacherr")
    return await aiohttp_client(create_app(ConfigStore.open(config_dir)))


def _setup_body(code: str = "") -> dict[str, str]:
    return {"username": "admin", "password": SECRETS["password"], "code": code}


async def test_dns_rebinding_cannot_claim_the_first_login(fresh: Client) -> None:
    """A page at evil.example whose name now points at this server: Host and Origin agree."""
    port = fresh.make_url("/").port
    rebound = {"Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}"}
    code = setup_code.read(fresh.app[keys.CONFIG].config_dir) or ""
    resp = await fresh.post("/api/auth/setup", json=_setup_body(code), headers=rebound)
    assert resp.status == 403
    assert "web.allowed_hosts" in (await resp.json())["message"]
    # The page and the reads are refused under that name too.
    assert (await fresh.get("/", headers=rebound)).status == 403
    assert (await fresh.get("/api/auth/status", headers=rebound)).status == 403
    assert fresh.app[keys.CONFIG].current.web.username is None


async def test_the_first_login_needs_the_code_from_the_log(
    fresh: Client, caplog: pytest.LogCaptureFixture
) -> None:
    store = fresh.app[keys.CONFIG]
    code = setup_code.read(store.config_dir)
    assert code is not None
    path = store.config_dir / setup_code.FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert any(code in r.getMessage() for r in caplog.get_records("setup"))  # at start-up
    status = await (await fresh.get("/api/auth/status")).json()
    assert status["data"]["setup_required"] is True and code not in json.dumps(status)
    for wrong in ("", "AAAAA-AAAAA"):
        resp = await fresh.post(
            "/api/auth/setup", json=_setup_body(wrong), headers=own_origin(fresh)
        )
        assert resp.status == 403, wrong
    assert store.current.web.username is None
    # `cacherr check` shows it (it changes nothing).
    env = {k: v for k, v in os.environ.items() if not k.startswith("CACHERR_")}
    check = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cacherr", "check", "--config-dir", str(store.config_dir),
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(check.communicate(), 60)
    assert check.returncode == 1
    assert f"login: not created yet; the set-up code is {code}" in out.decode()
    typed = code.lower().replace("-", " ")  # as typed by hand
    resp = await fresh.post("/api/auth/setup", json=_setup_body(typed), headers=own_origin(fresh))
    assert resp.status == 200, await resp.text()
    assert store.current.web.username == "admin"
    assert not path.exists()  # one-time
    assert setup_code.read(store.config_dir) is None


async def test_wrong_set_up_codes_are_limited_like_logins(fresh: Client) -> None:
    answers = await asyncio.gather(
        *(
            fresh.post("/api/auth/setup", json=_setup_body("WRONG"), headers=own_origin(fresh))
            for _ in range(20)
        )
    )
    statuses = [r.status for r in answers]
    assert statuses.count(403) <= 5 and statuses.count(429) >= 15, statuses


async def test_names_of_this_server_and_listed_names_are_answered(
    aiohttp_client: ClientFactory, hstore: ConfigStore
) -> None:
    hstore.save({"web": {"allowed_hosts": ["cacherr.example.com"]}})
    client = await aiohttp_client(create_app(hstore))
    port = client.make_url("/").port
    for name in (
        "127.0.0.1",
        "192.168.1.10",
        "[::1]",
        "[fe80::1]",
        "localhost",
        "tower",
        "tower.local",
        "nas.home.arpa",
        "CACHERR.example.com",
        socket.gethostname(),
    ):
        resp = await client.get("/api/auth/status", headers={"Host": f"{name}:{port}"})
        assert resp.status == 200, name
    for name in ("evil.example", "cacherr.example.com.evil.example", "tower.example.org"):
        resp = await client.get("/api/auth/status", headers={"Host": f"{name}:{port}"})
        assert resp.status == 403, name
    # A script with the API key is not a browser page: any name will do (Prometheus, curl).
    scripted = {"Host": f"evil.example:{port}", "X-Api-Key": SECRETS["api_key"]}
    assert (await client.get("/api/status", headers=scripted)).status == 200


# --- issue 15: credentials in list and notification URLs are never shown -----------------


def _answer(status: int) -> Any:
    async def handler(_request: web.Request) -> web.Response:
        return web.Response(status=status)

    return handler


async def test_list_credentials_never_show_anywhere(
    daemon: Client, aiohttp_server: Any, all_logs: Everything
) -> None:
    """A user and password in a custom list's URL, a token as an RSS feed's path: a Plex
    watchlist feed is `https://rss.plex.tv/<uuid>` and whoever has it reads the list (Plex
    support, "Universal Watchlist"; nylonee/watchlistarr's README; rivenmedia/riven#18)."""
    refused = web.Application()
    refused.router.add_get("/{tail:.*}", _answer(401))
    host = str((await aiohttp_server(refused)).make_url("/")).rstrip("/").split("://", 1)[1]
    user, password, feed_token = (
        "lister",
        "pa55-w0rd-ab12cd",
        "0f8fad5b-d9cb-469f-a165-70867728950e",
    )
    secrets_ = (password, feed_token, "70867728950e")
    bus = daemon.app[keys.BUS].subscribe(maxsize=10_000)
    lists = [
        {"name": "private", "provider": "url", "source": f"http://{user}:{password}@{host}/list.json"},
        {"name": "feed", "provider": "rss", "source": f"http://{host}/{feed_token}"},
    ]  # fmt: skip
    shown: list[str] = []
    for definition in lists:
        resp = await daemon.post("/api/lists", json=definition)
        assert resp.status in (200, 201), await resp.text()
        shown.append(await resp.text())
        failed = await daemon.post(f"/api/lists/{definition['name']}/refresh")
        assert failed.status == 502
        shown.append(await failed.text())
    for path in ("/api/lists", "/api/lists/private", "/api/lists/feed", "/api/settings",
                 "/api/activity"):  # fmt: skip
        shown.append(await (await daemon.get(path)).text())
    await asyncio.sleep(0.1)  # the activity log and the page's events go out on the loop
    with contextlib.suppress(asyncio.QueueEmpty):
        while True:
            shown.append(str(bus.get_nowait().as_dict()))
    bus.close()
    shown += all_logs.lines
    for text in shown:
        assert not [s for s in secrets_ if s in text], text[:400]
    listed = {d["name"]: d for d in (await (await daemon.get("/api/lists")).json())["data"]}
    assert listed["private"]["source"] == f"http://…@{host}/list.json"
    assert listed["feed"]["source"] == f"http://{host}/…"
    # The page sends back what it was shown: the list keeps its real source.
    settings = (await (await daemon.get("/api/settings")).json())["data"]["settings"]
    resp = await daemon.patch("/api/settings", json={"lists": settings["lists"]})
    assert resp.status == 200, await resp.text()
    kept = {d.name: d.source for d in daemon.app[keys.CONFIG].current.lists.definitions}
    assert kept["feed"] == lists[1]["source"] and kept["private"] == lists[0]["source"]


async def test_a_failed_ntfy_topic_is_not_logged(
    daemon: Client, aiohttp_server: Any, all_logs: Everything
) -> None:
    """ntfy's topic is its secret (anyone who knows it reads the messages: docs.ntfy.sh,
    "Publishing"); apprise logs it when a send fails."""
    refused = web.Application()
    refused.router.add_post("/{tail:.*}", _answer(403))
    refused.router.add_put("/{tail:.*}", _answer(403))
    server = await aiohttp_server(refused)
    topic = "cacherr-topic-x7y8z9"
    url = f"ntfy://127.0.0.1:{server.port}/{topic}"
    resp = await daemon.post("/api/notifications/test", json={"urls": [url]})
    body = await resp.text()
    assert '"ok": false' in body.replace('"ok":false', '"ok": false')
    assert any("ntfy" in line for line in all_logs.lines)
    for text in [body, *all_logs.lines]:
        assert topic not in text, text[:400]


# --- issue 15: the resolve preview is no file-existence oracle ----------------------------


async def test_resolve_tells_existence_only_inside_the_saved_roots(
    daemon: Client, root: Path, tmp_path: Path
) -> None:
    secret_dir = tmp_path / "elsewhere"
    secret_dir.mkdir()
    (secret_dir / "shadow").write_text("x")
    (root / "array" / "escape").symlink_to(secret_dir)  # a link inside a root leading out
    probes = [
        [{"name": "etc", "plex": "/x", "array": str(secret_dir), "cache": str(tmp_path / "c")}],
        [{"name": "etc", "plex": "/x", "array": str(root / "array" / "escape"),
          "cache": str(tmp_path / "c")}],
    ]  # fmt: skip
    for trial in probes:
        for name in ("shadow", "missing"):
            resp = await daemon.get(
                "/api/settings/resolve",
                params={"plex_path": f"/x/{name}", "mappings": json.dumps(trial)},
            )
            data = (await resp.json())["data"]
            assert data["ok"] is True
            assert data["exists"] == {"array": None, "backup": None, "cache": None}, data
    # Inside the saved mapping, existence is told as before.
    resp = await daemon.get(
        "/api/settings/resolve", params={"plex_path": "/data/movies/Heat (1995)/Heat (1995).mkv"}
    )
    data = (await resp.json())["data"]
    assert data["exists"]["array"] is True and data["exists"]["cache"] is False


# --- issue 15: overrides only for users Plex knows ----------------------------------------


async def test_overrides_only_for_known_users_with_clean_names(
    daemon: Client, hstore: ConfigStore
) -> None:
    assert (await daemon.post("/api/users/refresh")).status == 200
    before = hstore.path.read_bytes()
    for name, status in (("nobody", 404), ("alice\nadmin", 400), ("bob\u202e", 400)):
        resp = await daemon.put(f"/api/users/{quote(name)}/settings", json={"enabled": False})
        assert resp.status == status, (name, await resp.text())
    assert hstore.path.read_bytes() == before
    resp = await daemon.put("/api/users/alice/settings", json={"enabled": False})
    assert resp.status == 200, await resp.text()
    assert set(hstore.current.users.overrides) == {"alice"}


# --- issue 15: slow clients are dropped ---------------------------------------------------


async def _trickle_until_closed(
    port: int, head: bytes, line: bytes, *, every_s: float, most: int
) -> int:
    """Send `head`, then `line` every `every_s`; the number sent when the server hung up."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sent = 0
    try:
        writer.write(head)
        await writer.drain()
        for sent in range(most):
            try:
                await asyncio.wait_for(reader.read(65536), every_s)
            except TimeoutError:
                writer.write(line)
                await writer.drain()
                continue
            if reader.at_eof():
                return sent
        return most
    except ConnectionError:
        return sent
    finally:
        writer.close()


async def test_a_client_trickling_header_lines_is_dropped(tmp_path: Path) -> None:
    """`cacherr run` itself: a header line every 0.3 s, the header deadline 1 s."""
    port = free_port()
    proc = cacherr(
        "run", "--config-dir", str(tmp_path / "config"),
        env={"CACHERR_WEB__PORT": str(port), "CACHERR_WEB__HOST": "127.0.0.1",
             "CACHERR_WEB__HEADER_TIMEOUT_S": "1"},
    )  # fmt: skip
    try:
        await asyncio.to_thread(wait_healthy, port, 60)
        head = b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        sent = await _trickle_until_closed(port, head, b"X-Slow: 1\r\n", every_s=0.3, most=100)
        assert sent < 100, "the trickling client was never dropped"
        assert (await asyncio.to_thread(wait_healthy, port, 10))["success"] is True
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.communicate)


async def test_a_client_trickling_its_body_is_dropped(
    aiohttp_client: ClientFactory, hstore: ConfigStore
) -> None:
    hstore.save({"web": {"body_timeout_s": 1}})
    client = await aiohttp_client(create_app(hstore))
    port = client.make_url("/").port
    assert port is not None
    for path in ("/api/settings/plex/test", f"/api/webhooks/tautulli?secret={SECRETS['webhook']}"):
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"X-Api-Key: {SECRETS['api_key']}\r\nContent-Type: application/json\r\n"
            "Content-Length: 100000\r\n\r\n{"
        ).encode()
        sent = await _trickle_until_closed(port, head, b" ", every_s=0.3, most=100)
        assert sent < 100, f"{path}: the trickling body was never cut"
    assert (await client.get("/api/health")).status == 200  # the daemon stays up


async def test_a_request_without_a_host_header_is_refused(anon: Client) -> None:
    """HTTP/1.0 allows leaving Host out; such a request names no server of ours."""
    port = anon.make_url("/").port
    assert port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /api/auth/status HTTP/1.0\r\n\r\n")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    assert answer.startswith((b"HTTP/1.0 403", b"HTTP/1.1 403")), answer[:80]
