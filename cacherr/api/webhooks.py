"""`POST /api/webhooks/plex` and `POST /api/webhooks/tautulli`: verify, parse, enqueue, 202.

Plex cannot send headers, so the secret travels as `?secret=`; it is compared in constant
time and never logged. Bodies are read as a stream and bounded by `webhook.max_body_bytes`:
Plex's `thumb` JPEG is read in chunks and dropped, never held. The handlers only queue the
event on the playback stream; the work it triggers runs elsewhere, so a client hanging up
cannot cancel it.
"""

from __future__ import annotations

import hmac
import logging
import re
from typing import Final

from aiohttp import BodyPartReader, MultipartReader, web
from aiohttp.hdrs import CONTENT_TYPE
from aiohttp.http_exceptions import HttpProcessingError

from cacherr import keys
from cacherr.api.body import accepts
from cacherr.api.envelope import ok
from cacherr.errors import BadRequest, PayloadTooLarge, Unauthorized
from cacherr.events import Playback
from cacherr.sources.plex_webhook import event_from_plex, parse_plex_payload
from cacherr.sources.tautulli import (
    TautulliPayload,
    event_from_tautulli,
    parse_tautulli_payload,
)

log = logging.getLogger(__name__)

_CHUNK_BYTES: Final = 64 * 1024
# One `; key=value` parameter of a Content-Disposition header, the value a token or a quoted
# string (RFC 7578 section 4.2, RFC 9110 section 5.6.4).
_PARAM: Final = re.compile(r'\s*;\s*([^\s;=]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s;"]*)\s*')
_QUOTED_PAIR: Final = re.compile(r"\\(.)")


def _authorize(request: web.Request) -> int:
    """Check `?secret=`; returns the body size limit. Raises `Unauthorized`."""
    webhook = request.app[keys.CONFIG].current.webhook
    if webhook.secret is None or not webhook.secret.get_secret_value():
        raise Unauthorized("webhooks are refused until webhook.secret is set")
    given = request.query.get("secret", "")
    if not hmac.compare_digest(given.encode(), webhook.secret.get_secret_value().encode()):
        raise Unauthorized("wrong or missing webhook secret")
    limit = webhook.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"the body exceeds {limit} bytes")
    return limit


def part_name(disposition: str | None) -> str | None:
    """The `name` of a multipart/form-data part, from its Content-Disposition header
    (`form-data; name="payload"`); None without one. Parameters are read in order, so a
    quoted filename holding `; name=` is not taken for the name. (aiohttp's own parser
    builds a regular expression on every call: at a few hundred webhooks a second it was
    the loop's biggest cost.)"""
    if not disposition:
        return None
    kind = disposition.partition(";")[0]
    if kind.strip().lower() != "form-data":
        return None
    pos = len(kind)
    while (param := _PARAM.match(disposition, pos)) is not None and param.end() > pos:
        key, value = param.group(1).lower(), param.group(2)
        if key == "name":
            return _QUOTED_PAIR.sub(r"\1", value[1:-1]) if value.startswith('"') else value
        pos = param.end()
    return None


def _check_size(request: web.Request, limit: int) -> None:
    if request.content.total_bytes > limit:
        raise PayloadTooLarge(f"the body exceeds {limit} bytes")


async def _read_plex_payload(request: web.Request, limit: int) -> bytes:
    """The `payload` part's bytes; every other part is read in chunks and dropped."""
    # The raw header, not `request.content_type`: that one parses through the email
    # package, which at a few hundred webhooks a second is the loop's biggest cost.
    media_type, _, parameters = request.headers.get(CONTENT_TYPE, "").partition(";")
    if media_type.strip().lower() != "multipart/form-data":
        raise BadRequest("expected multipart/form-data with a 'payload' part, as Plex sends")
    payload: bytes | None = None
    # Read as multipart/mixed: the same parts, but aiohttp then skips its look at a form's
    # first part for RFC 7578's `_charset_` field (Plex sends none), whose Content-Disposition
    # parser builds a regular expression on every call: half of the cost of reading a body.
    try:
        reader = MultipartReader({CONTENT_TYPE: f"multipart/mixed;{parameters}"}, request.content)
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise BadRequest("nested multipart bodies are not Plex webhooks")
            keep = (
                payload is None and part_name(part.headers.get("Content-Disposition")) == "payload"
            )
            buffer = bytearray()
            while chunk := await part.read_chunk(_CHUNK_BYTES):
                _check_size(request, limit)
                if keep:
                    buffer += chunk
            if keep:
                payload = bytes(buffer)
    except (ValueError, RuntimeError, AssertionError, HttpProcessingError) as exc:
        # A part's headers cut off or garbled reach here as aiohttp's parser errors.
        raise BadRequest(f"malformed multipart body: {type(exc).__name__}") from exc
    if payload is None:
        raise BadRequest("the multipart body has no 'payload' part")
    return payload


async def _read_body(request: web.Request, limit: int) -> bytes:
    buffer = bytearray()
    while chunk := await request.content.read(_CHUNK_BYTES):
        buffer += chunk
        if len(buffer) > limit:
            raise PayloadTooLarge(f"the body exceeds {limit} bytes")
    return bytes(buffer)


def _enqueue(request: web.Request, name: str, event: Playback | None) -> web.Response:
    if event is None:
        log.debug("Webhook event %s ignored", name)
        return ok({"event": name, "status": "ignored"}, message="ignored", status=202)
    status = request.app[keys.PLAYBACK].offer(event)
    return ok({"event": name, "status": status}, message=status, status=202)


async def plex_webhook(request: web.Request) -> web.Response:
    """Plex's webhook (multipart, `?secret=`): queue the playback event and answer 202.

    Events Cacherr does not use are acknowledged as ignored.
    """
    limit = _authorize(request)
    received_at = keys.now(request.app)
    payload = parse_plex_payload(await _read_plex_payload(request, limit))
    return _enqueue(request, payload.event, event_from_plex(payload, received_at=received_at))


@accepts(TautulliPayload)
async def tautulli_webhook(request: web.Request) -> web.Response:
    """Tautulli's webhook (JSON, `?secret=`): queue the playback event and answer 202.

    The body is the template in docs/tautulli.md; unused actions are acknowledged as ignored.
    """
    limit = _authorize(request)
    received_at = keys.now(request.app)
    payload = parse_tautulli_payload(await _read_body(request, limit))
    return _enqueue(request, payload.action, event_from_tautulli(payload, received_at=received_at))
