"""The JSON envelope `{success, data, message, error, timestamp}` of every `/api/` answer."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from cacherr.errors import CacherrError

log = logging.getLogger(__name__)


def envelope(
    data: Any = None,
    *,
    message: str = "",
    error: dict[str, Any] | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """A JSON answer in the envelope."""
    body = {
        "success": error is None,
        "data": data,
        "message": message,
        "error": error,
        "timestamp": time.time(),
    }
    return web.json_response(
        body, status=status, headers=headers, dumps=lambda obj: json.dumps(obj, default=str)
    )


def ok(data: Any = None, *, message: str = "", status: int = 200) -> web.Response:
    """A successful answer."""
    return envelope(data, message=message, status=status)


def failure(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> web.Response:
    """An error answer."""
    return envelope(
        None,
        message=message,
        error={"code": code, "details": details},
        status=status,
        headers=headers,
    )


@web.middleware
async def envelope_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map every error under `/api/` to the envelope with the right status."""
    if not request.path.startswith("/api/"):
        return await handler(request)
    try:
        return await handler(request)
    except CacherrError as exc:
        return failure(exc.status, exc.code, exc.message, exc.details)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = exc.reason.lower().replace(" ", "_")
        headers = {k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After")}
        return failure(exc.status, code, exc.text or exc.reason, headers=headers)
    except Exception:
        log.exception("Unhandled error on %s %s", request.method, request.path)
        return failure(500, "internal_error", "Cacherr hit an internal error; see its log")
