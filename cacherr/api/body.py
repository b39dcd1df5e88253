"""Request bodies: JSON parsed into a strict model, with field-level errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from cacherr.errors import BadRequest, UnsupportedMediaType, invalid, load_json

M = TypeVar("M", bound=BaseModel)
H = TypeVar("H", bound=Callable[..., Any])

_BODIES: dict[Callable[..., Any], type[BaseModel]] = {}

MAX_JSON_BYTES = 1 * 2**20


async def read_json(request: web.Request) -> Any:
    """The request's JSON document, or BadRequest with the reason.

    A body must be sent as `application/json`: a web page can post `text/plain` (or a form)
    to another site without asking, but not JSON.
    """
    if request.body_exists and not _is_json(request.content_type):
        raise UnsupportedMediaType(
            f"send the body as application/json (Content-Type), not {request.content_type!r}"
        )
    if request.content_length is not None and request.content_length > MAX_JSON_BYTES:
        raise BadRequest(f"the body is larger than {MAX_JSON_BYTES} bytes")
    # `read(n)` answers with what has arrived so far: a body split across packets (a slow
    # link, a big settings save) is read to its end.
    raw = bytearray()
    while chunk := await request.content.read(MAX_JSON_BYTES + 1 - len(raw)):
        raw += chunk
        if len(raw) > MAX_JSON_BYTES:
            raise BadRequest(f"the body is larger than {MAX_JSON_BYTES} bytes")
    return load_json(bytes(raw) or b"null", "the body")


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or (
        content_type.startswith("application/") and content_type.endswith("+json")
    )


async def parse_body(request: web.Request, model: type[M]) -> M:
    """The request's JSON validated by `model`; errors list each field and reason."""
    data = await read_json(request)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid(exc, "the request") from exc


def accepts(model: type[BaseModel]) -> Callable[[H], H]:
    """Declare the JSON body a handler reads (for the OpenAPI document)."""

    def mark(handler: H) -> H:
        _BODIES[handler] = model
        return handler

    return mark


def body_model(handler: Callable[..., Any]) -> type[BaseModel] | None:
    """The declared body model of a handler, if any."""
    return _BODIES.get(handler)
