"""Deeply nested JSON on every route that reads JSON: a 400, one log line, no traceback.

Python's JSON parser (and anything walking its result) recurses; `[` × 100 000 used to
escape every handler as a RecursionError and a 500.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest

from tests.hardening.conftest import SECRETS, Client, plex_form
from tests.hardening.test_security import own_origin

DEEP = "[" * 100_000
# Just past the limit: parses, but is refused before a handler or validator walks it.
PAST_LIMIT = '{"a":' * 65 + "1" + "}" * 65


# Routes that read JSON without declaring a body model in the OpenAPI document.
UNDECLARED = [("patch", "/api/settings"), ("post", "/api/notifications/test")]


def _json_routes(spec: dict[str, Any]) -> list[tuple[str, str]]:
    routes = list(UNDECLARED)
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            body = op.get("requestBody", {}).get("content", {})
            if "application/json" in body and not path.startswith("/api/webhooks/"):
                routes.append((method, re.sub(r"\{[^}]+\}", "x", path)))
    return routes


def _refusals(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "nested deeper" in r.getMessage()]


@pytest.mark.parametrize("body", [DEEP, PAST_LIMIT], ids=["100k", "65"])
async def test_every_json_route_refuses_deep_nesting_with_a_400(
    daemon: Client, caplog: pytest.LogCaptureFixture, body: str
) -> None:
    spec = await (await daemon.get("/api/openapi.json")).json()
    routes = _json_routes(spec)
    assert ("post", "/api/auth/login") in routes
    headers = {"Content-Type": "application/json", **own_origin(daemon)}
    refused: set[str] = set()
    for method, path in routes:
        caplog.clear()
        resp = await daemon.request(method, path, data=body, headers=headers)
        answer = await resp.json()
        assert not [r for r in caplog.records if r.exc_info], (method, path)
        if resp.status in (403, 404, 409) and not _refusals(caplog):
            continue  # refused before the body is read (session only, no such list, ...)
        assert resp.status == 400, (method, path, answer)
        assert "nested deeper than 64 levels" in answer["message"]
        assert len(_refusals(caplog)) == 1, (method, path)
        refused.add(path)
    assert {"/api/auth/login", "/api/settings", "/api/pins", "/api/lists"} <= refused


async def test_both_webhooks_refuse_deep_nesting_with_a_400(
    daemon: Client, caplog: pytest.LogCaptureFixture
) -> None:
    secret = f"secret={SECRETS['webhook']}"
    resp = await daemon.post(f"/api/webhooks/plex?{secret}", data=plex_form(DEEP))
    assert resp.status == 400
    assert "nested deeper" in (await resp.json())["message"]
    resp = await daemon.post(
        f"/api/webhooks/tautulli?{secret}",
        data=DEEP,
        headers={"Content-Type": "application/json"},
    )
    assert resp.status == 400
    assert "nested deeper" in (await resp.json())["message"]
    assert len(_refusals(caplog)) == 2
    assert not [r for r in caplog.records if r.exc_info]
    resp = await daemon.get(
        "/api/settings/resolve", params={"plex_path": "/data/x", "mappings": "[" * 5000}
    )
    assert resp.status == 400
    assert (await daemon.get("/api/health")).status == 200
