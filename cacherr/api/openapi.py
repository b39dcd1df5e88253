"""`GET /api/openapi.json`: the API described from the route table itself.

Each `/api/` route contributes its method, path parameters, the first line of its
handler's docstring as summary and, where a handler declared one with `@accepts`, the
JSON schema of its request body. Being generated from the routes, it cannot drift; a test
checks that every route is documented and described.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from cacherr import __version__
from cacherr.api.auth import is_protected
from cacherr.api.body import body_model

_PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")


def _envelope_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["success", "data", "message", "error", "timestamp"],
        "properties": {
            "success": {"type": "boolean"},
            "data": {},
            "message": {"type": "string"},
            "error": {
                "oneOf": [
                    {"type": "null"},
                    {
                        "type": "object",
                        "properties": {"code": {"type": "string"}, "details": {}},
                    },
                ]
            },
            "timestamp": {"type": "number"},
        },
    }


def build_spec(app: web.Application) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every `/api/` route of `app`."""
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {"Envelope": _envelope_schema()}
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        raw = info.get("path") or info.get("formatter")
        if not raw or not raw.startswith("/api/") or route.method == "HEAD":
            continue
        path = _PARAM.sub(r"{\1}", raw)
        doc = (route.handler.__doc__ or "").strip()
        summary, _, description = doc.partition("\n")
        operation: dict[str, Any] = {
            "operationId": route.name or f"{route.method.lower()}_{path}",
            "summary": summary.strip(),
            "responses": {
                "default": {
                    "description": "The JSON envelope",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Envelope"}}
                    },
                }
            },
        }
        if description.strip():
            operation["description"] = " ".join(description.split())
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _PARAM.findall(raw)
        ]
        if parameters:
            operation["parameters"] = parameters
        model = body_model(route.handler)
        if model is not None:
            schemas[model.__name__] = model.model_json_schema(
                ref_template="#/components/schemas/{model}"
            )
            for name, sub in schemas[model.__name__].pop("$defs", {}).items():
                schemas[name] = sub
            operation["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": f"#/components/schemas/{model.__name__}"}
                    }
                },
            }
        if is_protected(raw):
            operation["security"] = [{"apiKey": []}, {"session": []}]
        else:
            operation["security"] = []
        paths.setdefault(path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "Cacherr", "version": __version__},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
                "session": {"type": "apiKey", "in": "cookie", "name": "cacherr_session"},
            },
        },
    }


async def openapi(request: web.Request) -> web.Response:
    """The OpenAPI document of this API.

    Served bare, not in the envelope, so that OpenAPI tools can read it as it is.
    """
    return web.json_response(build_spec(request.app))
