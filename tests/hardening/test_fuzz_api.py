"""Fuzzing every API route from the app's own `/api/openapi.json`.

For each documented operation: path parameters, query strings (the names the handlers read
and random ones) and bodies (drawn from the operation's JSON schema, or any JSON at all),
with the API key, a wrong one or none. Every answer: no 5xx, the JSON envelope, and in the
end no file touched, no journal row, and a cacherr.json that still opens.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote, urlencode

from hypothesis import strategies as st

from cacherr.config import ConfigStore
from cacherr.fakeplex import World
from tests.hardening.conftest import SECRETS, Client, journal_rows, settle, snapshot
from tests.hardening.fuzzing import LARGE_CASES, budget, check_envelope, fuzz, json_values, odd_text

# Query parameters the handlers read (the spec does not list them).
QUERY_NAMES = [
    "limit", "offset", "user", "priority", "q", "state", "mappings", "plex_path", "dry_run",
    "sort", "order", "kind", "hours", "since", "level", "search", "apikey", "range", "days",
]  # fmt: skip
# Routes fuzzed elsewhere (webhooks) or that only a person on the page may call.
# aiohttp's HTTP parser answers a request line over 8 KiB itself, before any handler (see
# test_a_request_line_too_long_is_refused_by_the_server); the parts stay below that here.
URL_PART_CHARS = 600
SKIP = {("post", "/api/webhooks/plex"), ("post", "/api/webhooks/tautulli")}


def schema_values(schema: dict[str, Any], defs: dict[str, Any], depth: int = 0) -> Any:
    """A strategy for values that mostly fit `schema` (a small JSON-schema subset)."""
    if "$ref" in schema:
        return schema_values(defs[schema["$ref"].rsplit("/", 1)[1]], defs, depth)
    if depth > 4:
        return json_values(2)
    if "anyOf" in schema or "oneOf" in schema:
        return st.one_of(
            [schema_values(s, defs, depth + 1) for s in schema.get("anyOf") or schema["oneOf"]]
        )
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        required = set(schema.get("required", ()))
        return st.fixed_dictionaries(
            {k: schema_values(v, defs, depth + 1) for k, v in props.items() if k in required},
            optional={
                k: schema_values(v, defs, depth + 1) for k, v in props.items() if k not in required
            },
        )
    if kind == "array":
        return st.lists(schema_values(schema.get("items", {}), defs, depth + 1), max_size=3)
    if kind == "string":
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True) | odd_text()
        return st.text(min_size=schema.get("minLength", 0), max_size=60) | odd_text()
    if kind == "integer":
        return st.integers(min_value=-(2**40), max_value=2**40)
    if kind == "number":
        return st.floats(allow_nan=False, allow_infinity=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    return json_values(3)


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, op)
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
        if (method, path) not in SKIP
    ]


def not_real(world: World) -> Any:
    real = {str(k) for k in world.items}

    def keep(value: Any) -> bool:
        text = str(value)
        return not any(re.search(rf"(?<!\d){k}(?!\d)", text) for k in real)

    return keep


def requests(
    spec: dict[str, Any], world: World
) -> st.SearchStrategy[tuple[str, str, dict[str, str], bytes | None]]:
    """(method, target, headers, body) for any documented operation."""
    # Built once: Hypothesis inspects every new strategy, which cost more than the cases.
    ops = operations(spec)
    defs = spec["components"]["schemas"]
    bodies = {
        (method, path): schema_values(schema["schema"], defs) | json_values()
        for method, path, op in ops
        if (schema := op.get("requestBody", {}).get("content", {}).get("application/json", {}))
    }
    path_values = st.one_of(odd_text(), st.from_regex(r"\d{1,12}", fullmatch=True))
    queries = st.dictionaries(
        st.sampled_from(QUERY_NAMES) | st.text(max_size=8),
        st.one_of(odd_text(), st.integers().map(str), st.just(json.dumps([{"a": 1}]))).map(
            lambda v: v[:URL_PART_CHARS]
        ),
        max_size=3,
    )

    @st.composite
    def one(draw: st.DrawFn) -> tuple[str, str, dict[str, str], bytes | None]:
        method, template, op = draw(st.sampled_from(ops))
        path = template
        for param in op.get("parameters", []):
            value = draw(path_values)
            value = quote(value.replace("\x00", "")[:URL_PART_CHARS], safe="")
            path = path.replace("{" + param["name"] + "}", value)
        query = draw(queries)
        headers = {"X-Api-Key": draw(st.sampled_from([SECRETS["api_key"]] * 8 + ["", "wrong"]))}
        body: bytes | None = None
        if (method, template) in bodies:
            body = json.dumps(draw(bodies[(method, template)])).encode()
        elif method in ("post", "put", "patch"):
            body = json.dumps(draw(json_values())).encode()
        if body is not None and not draw(st.integers(0, 9)):
            body = draw(st.binary(max_size=200))
        if method != "get" or body is not None:
            headers["Content-Type"] = "application/json"
        target = path + ("?" + urlencode(query) if query else "")
        return method, target, headers, body

    return one()


@LARGE_CASES
async def test_fuzz_every_route_from_the_openapi_document(
    daemon: Client, world: World, root: Any, hstore: ConfigStore
) -> None:
    spec = await (await daemon.get("/api/openapi.json")).json()
    before = snapshot(root / "array"), snapshot(root / "cache")
    seen: dict[str, set[int]] = {}

    async def one(case: tuple[str, str, dict[str, str], bytes | None]) -> None:
        method, target, headers, body = case
        # The client's default API key would mask a missing or wrong one.
        resp = await daemon.request(method, target, headers=headers, data=body)
        text = await resp.text()
        if target.split("?")[0] == "/api/openapi.json" and resp.status == 200:
            assert json.loads(text)["openapi"]  # served bare, by design
        else:
            check_envelope(resp.status, text)
        seen.setdefault(f"{method} {target.split('?')[0]}", set()).add(resp.status)

    await fuzz(requests(spec, world).filter(not_real(world)), budget("api"), one)
    await settle(daemon.app)
    assert await journal_rows(daemon.app) == []
    assert snapshot(root / "array") == before[0]
    assert snapshot(root / "cache") == before[1]
    ConfigStore.open(hstore.config_dir)  # still a valid cacherr.json
    assert len(seen) > 20, sorted(seen)


async def test_a_request_line_too_long_is_refused_by_the_server(daemon: Client) -> None:
    resp = await daemon.get("/api/files?q=" + "x" * 9000)
    assert resp.status in (400, 414)
    assert (await daemon.get("/api/health")).status == 200


async def test_a_plex_test_token_with_a_control_character_is_a_400(daemon: Client) -> None:
    # Found by the 10 000-case run: the HTTP client refused the header and the route said 500.
    for token in ("\x1f", "tok\nX-Evil: 1", "tok\x7f"):
        resp = await daemon.post("/api/settings/plex/test", json={"token": token})
        body = check_envelope(resp.status, await resp.text())
        assert resp.status == 400, body
