"""Cacherr's own exceptions: one small hierarchy, mapped to HTTP answers at the edge."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)

log = logging.getLogger(__name__)

# Deeper than any document Cacherr reads (settings are ~5 levels): a body nested deeper is
# refused before anything walks it (Python's parser and validators recurse).
MAX_JSON_DEPTH = 64


class CacherrError(Exception):
    """Base of every error Cacherr raises on purpose; `status` is the HTTP answer."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class BadRequest(CacherrError):
    status = 400
    code = "bad_request"


def field_errors(exc: ValidationError) -> list[dict[str, str]]:
    """`{field, message}` per problem of a validation error (never the input's value)."""
    return [
        {"field": ".".join(str(p) for p in err["loc"]), "message": err["msg"]}
        for err in exc.errors(include_url=False, include_input=False)
    ]


def invalid(exc: ValidationError, what: str) -> BadRequest:
    """A BadRequest naming each invalid field of `what` (e.g. "the Plex webhook payload")."""
    details = field_errors(exc)
    text = "; ".join(f"{d['field'] or 'body'}: {d['message']}" for d in details)
    return BadRequest(f"{what} is invalid: {text}", details=details)


def load_json(raw: bytes | str, what: str) -> Any:
    """`raw` parsed as JSON; BadRequest naming `what` when it is not JSON or is nested
    deeper than `MAX_JSON_DEPTH` (logged once: that is no client's honest mistake)."""
    try:
        document = json.loads(raw)
    except RecursionError:
        document = None
        too_deep = True
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"{what} is not valid JSON: {exc}") from exc
    else:
        too_deep = _nested_deeper(document, MAX_JSON_DEPTH)
    if too_deep:
        log.warning("Refused %s: JSON nested deeper than %d levels", what, MAX_JSON_DEPTH)
        raise BadRequest(f"{what} is nested deeper than {MAX_JSON_DEPTH} levels")
    return document


def _nested_deeper(document: Any, limit: int) -> bool:
    stack = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = list(value.values())
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def parse_json_object(raw: bytes, model: type[M], what: str) -> M:
    """`raw` as a JSON object validated by `model`; BadRequest naming `what` otherwise."""
    document = load_json(raw, what)
    if not isinstance(document, dict):
        raise BadRequest(f"{what} must be a JSON object")
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise invalid(exc, what) from exc


class Unauthorized(CacherrError):
    status = 401
    code = "unauthorized"


class Forbidden(CacherrError):
    status = 403
    code = "forbidden"


class NotFound(CacherrError):
    status = 404
    code = "not_found"


class Conflict(CacherrError):
    status = 409
    code = "conflict"


class PayloadTooLarge(CacherrError):
    status = 413
    code = "payload_too_large"


class RequestTimeout(CacherrError):
    status = 408
    code = "request_timeout"


class UnsupportedMediaType(CacherrError):
    status = 415
    code = "unsupported_media_type"


class TooManyRequests(CacherrError):
    status = 429
    code = "too_many_requests"


class Unavailable(CacherrError):
    status = 503
    code = "unavailable"


class DatabaseUnwritable(Unavailable):
    """The state database cannot be written: its folder is full or read-only, the disk
    failed, or another process holds its lock too long."""

    code = "database_unwritable"


class InsufficientSpace(CacherrError):
    status = 507
    code = "insufficient_space"


class PathRefused(CacherrError):
    """A path left the configured roots, or is otherwise not one Cacherr may touch."""

    status = 400
    code = "path_refused"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the configuration, in terms a person can act on."""

    path: str
    message: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = self.path or "(file)"
        if self.line is not None:
            where += f" (line {self.line}, column {self.column})"
        return f"{where}: {self.message}"


class ConfigError(BadRequest):
    """The configuration is invalid; `problems` lists every reason."""

    code = "config_invalid"

    def __init__(self, problems: list[Problem], *, source: str = "") -> None:
        lines = "\n".join(f"  - {p}" for p in problems)
        prefix = f"{source} is invalid" if source else "invalid configuration"
        super().__init__(f"{prefix}:\n{lines}", details=[p.__dict__ for p in problems])
        self.problems = problems
