"""The OpenAPI document is open, describes every `/api/` route, and marks the secured ones."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient

from cacherr.api.auth import is_protected

Client = TestClient[Any, Any]


async def test_every_api_route_is_documented_and_described(client: Client) -> None:
    resp = await client.get("/api/openapi.json")
    assert resp.status == 200
    spec = await resp.json()
    assert spec["openapi"].startswith("3.")
    documented = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    routed = set()
    for route in client.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter") or ""
        if path.startswith("/api/") and route.method != "HEAD":
            routed.add((route.method, re.sub(r"\{([^}:]+)(?::[^}]*)?\}", r"{\1}", path)))
    assert documented == routed
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            assert op["summary"], f"{method.upper()} {path} has no docstring"
            assert bool(op["security"]) == is_protected(path), path
    login = spec["paths"]["/api/auth/login"]["post"]
    ref = login["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    name = ref.rsplit("/", 1)[-1]
    assert set(spec["components"]["schemas"][name]["properties"]) == {"username", "password"}
