"""Who may call what: the API key, the login session, the Origin check, and the login routes.

Open without credentials: `GET /api/health`, `GET /api/openapi.json`, the login routes
under `/api/auth/` and the webhooks (they check their own secret). Everything else under
`/api/` and `/metrics` needs the API key (`X-Api-Key` header or `apikey` query, as the
*arr apps accept) or a login session; a state-changing request carrying the session cookie
must also come from the page's own origin.

Before any of that, on every route but the webhooks: a request without the API key must be
addressed to a name of this server (`cacherr.security.hosts`, against DNS rebinding), and a
state-changing request, in every `web.auth` mode, must come from the page's own origin
(Origin or Referer); only a request with the API key may come without either (a script).
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import BaseModel, Field

from cacherr import keys
from cacherr.api.body import accepts, parse_body
from cacherr.api.envelope import ok
from cacherr.config.models import WebConfig
from cacherr.errors import BadRequest, Conflict, Forbidden, TooManyRequests, Unauthorized
from cacherr.security import setup_code
from cacherr.security.hosts import host_allowed, host_name, own_names
from cacherr.security.passwords import (
    MIN_LENGTH,
    check_strength,
    hash_password,
    verify_password,
)
from cacherr.security.sessions import COOKIE_NAME

OPEN_PATHS = frozenset({"/api/health", "/api/openapi.json"})
WEBHOOK_PREFIX = "/api/webhooks/"
OPEN_PREFIXES = ("/api/auth/", WEBHOOK_PREFIX)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_OWN_NAMES = own_names()


@dataclass(frozen=True)
class Principal:
    """How a request was let in."""

    via: Literal["api_key", "session", "open"]
    username: str = ""


PRINCIPAL = web.RequestKey("principal", Principal)


def is_protected(path: str) -> bool:
    """Whether `path` needs credentials."""
    if path == "/metrics":
        return True
    if not path.startswith("/api/"):
        return False
    return path not in OPEN_PATHS and not path.startswith(OPEN_PREFIXES)


def principal(request: web.Request) -> Principal:
    """The principal the middleware let in (only on protected routes)."""
    try:
        return request[PRINCIPAL]
    except KeyError:
        raise Unauthorized("credentials are required") from None


def _api_key_matches(request: web.Request, web_config: WebConfig) -> bool | None:
    given = request.headers.get("X-Api-Key") or request.query.get("apikey")
    if given is None:
        return None
    expected = web_config.api_key
    return expected is not None and hmac.compare_digest(
        given.encode(), expected.get_secret_value().encode()
    )


def check_origin(request: web.Request, *, script: bool = False) -> None:
    """Refuse a state change that does not come from our own page.

    `script`: the request carries the right API key, so it may come with no Origin at all
    (curl, the *arr-style integrations); a browser's foreign Origin is still refused.
    """
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if request.headers.get("Sec-Fetch-Site") == "cross-site":
        raise Forbidden("the request comes from another site (Sec-Fetch-Site: cross-site)")
    if not source and script:
        return
    if not source or source == "null":
        raise Forbidden("the request has no Origin or Referer; it must come from Cacherr's page")
    if urlsplit(source).netloc.lower() != _host_header(request).lower():
        raise Forbidden("the request comes from another site (Origin does not match)")


def _host_header(request: web.Request) -> str:
    # Not `request.host`: without a Host header it falls back to socket.getfqdn(), a DNS
    # lookup on the event loop. A request without one is simply not addressed to us.
    return request.headers.get("Host", "")


def check_host(request: web.Request, web_config: WebConfig) -> None:
    """Refuse a request addressed to a name that is not this server's (DNS rebinding)."""
    host = _host_header(request)
    if not host_allowed(host, web_config.allowed_hosts, _OWN_NAMES):
        name = host_name(host)
        raise Forbidden(
            f"Cacherr does not answer to the name {name!r}: add it to web.allowed_hosts "
            "(or CACHERR_WEB__ALLOWED_HOSTS) if it is yours, or open the page by its address"
        )


async def authenticate(request: web.Request) -> Principal:
    """Let the request in or raise Unauthorized/Forbidden."""
    web_config = request.app[keys.CONFIG].current.web
    key_ok = _api_key_matches(request, web_config)
    if key_ok:
        return Principal("api_key")
    if key_ok is False:
        raise Unauthorized("the API key is wrong")
    if web_config.auth == "none":
        return Principal("open")
    token = request.cookies.get(COOKIE_NAME, "")
    session = await request.app[keys.SESSIONS].get(token) if token else None
    if session is None:
        raise Unauthorized("log in or send the X-Api-Key header")
    return Principal("session", session.username)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authenticate every protected route before its handler runs."""
    # An unknown route or method answers 404/405 as it is; nothing behind it to protect.
    if request.match_info.http_exception is not None:
        return await handler(request)
    try:
        # Webhooks are exempt from Host and Origin: Plex and Tautulli send neither as a page
        # would, and their secret guards them.
        if not request.path.startswith(WEBHOOK_PREFIX):
            web_config = request.app[keys.CONFIG].current.web
            script = bool(_api_key_matches(request, web_config))
            if not script:
                check_host(request, web_config)
            if is_protected(request.path):
                request[PRINCIPAL] = await authenticate(request)
            if request.method not in SAFE_METHODS:
                check_origin(request, script=script)
    except Forbidden as exc:
        if request.path.startswith("/api/"):
            raise
        raise web.HTTPForbidden(text=exc.message) from exc
    except Unauthorized as exc:
        if request.path.startswith("/api/"):
            raise
        raise web.HTTPUnauthorized(text=exc.message) from exc
    return await handler(request)


# --- the login routes ------------------------------------------------------------------


class Credentials(BaseModel):
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1000)


class Setup(Credentials):
    code: str = Field(
        "", max_length=100, description="The one-time set-up code from the log or `cacherr check`."
    )


class PasswordChange(BaseModel):
    current: str = Field(max_length=1000)
    new: str = Field(min_length=1, max_length=1000)


async def _password_ok(web_config: WebConfig, username: str, password: str) -> bool:
    expected_user = web_config.username or ""
    user_ok = hmac.compare_digest(username.encode(), expected_user.encode())
    if web_config.password is not None:
        clear = web_config.password.get_secret_value()
        return user_ok and hmac.compare_digest(password.encode(), clear.encode())
    if web_config.password_hash is None:
        return False
    stored = web_config.password_hash.get_secret_value()
    hash_ok = await asyncio.to_thread(verify_password, password, stored)
    return user_ok and hash_ok


async def _start_session(request: web.Request, username: str, message: str) -> web.Response:
    web_config = request.app[keys.CONFIG].current.web
    ttl_s = web_config.session_ttl_hours * 3600
    token = await request.app[keys.SESSIONS].create(username, ttl_s)
    resp = ok({"username": username}, message=message)
    resp.set_cookie(
        COOKIE_NAME,
        token,
        max_age=int(ttl_s),
        path="/",
        httponly=True,
        samesite="Strict",
        secure=request.secure,
    )
    return resp


async def auth_status(request: web.Request) -> web.Response:
    """What the page needs to decide between the setup form, the login form and the app."""
    web_config = request.app[keys.CONFIG].current.web
    token = request.cookies.get(COOKIE_NAME, "")
    session = await request.app[keys.SESSIONS].get(token) if token else None
    return ok(
        {
            "mode": web_config.auth,
            "setup_required": setup_code.setup_required(web_config),
            "logged_in": session is not None or web_config.auth == "none",
            "username": session.username if session else None,
            "password_min_length": MIN_LENGTH,  # the one rule, shown by the page as it is
        }
    )


@accepts(Setup)
async def setup(request: web.Request) -> web.Response:
    """The first visit chooses the login (only while none is configured, with the set-up code)."""
    store = request.app[keys.CONFIG]
    if setup_code.login_configured(store.current.web):
        raise Conflict("a login is already configured; log in instead")
    body = await parse_body(request, Setup)
    limiter = request.app[keys.LOGIN_LIMITER]
    address = request.remote or "unknown"
    _refuse_while_limited(limiter.retry_after_s(address))
    limiter.failed(address)  # before any await, as in login: parallel guesses count too
    expected = await asyncio.to_thread(setup_code.read, store.config_dir)
    if expected is None:  # removed by hand: a new one, in the log again
        await asyncio.to_thread(setup_code.announce, store.config_dir, store.current.web)
    if expected is None or not setup_code.matches(body.code, expected):
        raise Forbidden(
            "the set-up code is missing or wrong: it is printed in Cacherr's log at start-up, "
            f"kept in {setup_code.FILE_NAME} in the config folder and shown by `cacherr check`"
        )
    limiter.succeeded(address)
    reason = check_strength(body.password)
    if reason:
        raise BadRequest(reason)
    hashed = await asyncio.to_thread(hash_password, body.password)
    await asyncio.to_thread(
        store.save, {"web": {"username": body.username, "password_hash": hashed}}
    )
    await asyncio.to_thread(setup_code.discard, store.config_dir)
    return await _start_session(request, body.username, "login created")


def _refuse_while_limited(wait_s: float) -> None:
    if wait_s > 0:
        raise TooManyRequests(
            f"too many failed tries; try again in {int(wait_s) + 1} s",
            details={"retry_after_s": int(wait_s) + 1},
        )


@accepts(Credentials)
async def login(request: web.Request) -> web.Response:
    """Check user and password, rate-limited per address; a fresh session each time."""
    body = await parse_body(request, Credentials)
    limiter = request.app[keys.LOGIN_LIMITER]
    address = request.remote or "unknown"
    _refuse_while_limited(limiter.retry_after_s(address))
    # Counted as failed before the (slow) check, with no await since the limit was read:
    # otherwise guesses sent in parallel all pass the limit while the first is being hashed.
    limiter.failed(address)
    web_config = request.app[keys.CONFIG].current.web
    if not await _password_ok(web_config, body.username, body.password):
        raise Unauthorized("wrong user name or password")
    limiter.succeeded(address)
    old = request.cookies.get(COOKIE_NAME)
    if old:
        await request.app[keys.SESSIONS].delete(old)
    return await _start_session(request, body.username, "logged in")


async def logout(request: web.Request) -> web.Response:
    """End this browser's session."""
    token = request.cookies.get(COOKIE_NAME)  # the middleware checked the Origin
    if token:
        await request.app[keys.SESSIONS].delete(token)
    resp = ok(message="logged out")
    resp.del_cookie(COOKIE_NAME, path="/")
    return resp


def _require_person(request: web.Request) -> Principal:
    who = principal(request)
    if who.via == "api_key":
        raise Forbidden("this needs a logged-in session on the page, not the API key")
    return who


@accepts(PasswordChange)
async def change_password(request: web.Request) -> web.Response:
    """Change the login password; every other session ends."""
    _require_person(request)
    store = request.app[keys.CONFIG]
    body = await parse_body(request, PasswordChange)
    web_config = store.current.web
    if web_config.password is not None:
        raise Conflict("the password is set by CACHERR_WEB__PASSWORD; change it there")
    if not await _password_ok(web_config, web_config.username or "", body.current):
        raise Unauthorized("the current password is wrong")
    reason = check_strength(body.new)
    if reason:
        raise BadRequest(reason)
    hashed = await asyncio.to_thread(hash_password, body.new)
    await asyncio.to_thread(store.save, {"web": {"password_hash": hashed}})
    await request.app[keys.SESSIONS].delete_all()
    return await _start_session(request, web_config.username or "", "password changed")


async def reveal_api_key(request: web.Request) -> web.Response:
    """The API key, only to a person on the page who asks for it explicitly."""
    _require_person(request)
    api_key = request.app[keys.CONFIG].current.web.api_key
    return ok({"api_key": api_key.get_secret_value() if api_key else None})


async def regenerate_api_key(request: web.Request) -> web.Response:
    """A new API key; the old one stops working at once."""
    _require_person(request)
    new_key = secrets.token_hex(16)
    await asyncio.to_thread(request.app[keys.CONFIG].save, {"web": {"api_key": new_key}})
    return ok({"api_key": new_key}, message="a new API key is in force")


def setup_auth_routes(app: web.Application) -> None:
    """Register the login and credential routes."""
    app.router.add_get("/api/auth/status", auth_status, name="auth_status")
    app.router.add_post("/api/auth/setup", setup, name="auth_setup")
    app.router.add_post("/api/auth/login", login, name="auth_login")
    app.router.add_post("/api/auth/logout", logout, name="auth_logout")
    app.router.add_post("/api/security/password", change_password, name="change_password")
    app.router.add_post("/api/security/api-key/reveal", reveal_api_key, name="reveal_api_key")
    app.router.add_post(
        "/api/security/api-key/regenerate", regenerate_api_key, name="regenerate_api_key"
    )
