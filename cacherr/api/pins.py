"""`/api/pins`: media kept on the cache for good (a movie, show, season or episode)."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from cacherr import keys
from cacherr.api.body import accepts, parse_body
from cacherr.api.envelope import ok
from cacherr.errors import Unavailable
from cacherr.reactor import Pins


class PinRequest(BaseModel):
    """What to pin, by its Plex ratingKey."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    rating_key: str = Field(
        ..., min_length=1, max_length=32, pattern=r"^\d+$",
        description="The Plex ratingKey of a movie, show, season or episode.",
    )  # fmt: skip


def _pins(request: web.Request) -> Pins:
    pins = request.app.get(keys.PINS)
    if pins is None:
        raise Unavailable("pins need the Plex connection, which is not wired in")
    return pins


async def list_pins(request: web.Request) -> web.Response:
    """Every pin with its kind, title and the number of files it holds."""
    return ok(await _pins(request).list())


@accepts(PinRequest)
async def add_pin(request: web.Request) -> web.Response:
    """Pin a movie, show, season or episode: its files are cached and never evicted."""
    body = await parse_body(request, PinRequest)
    pin = await _pins(request).add(body.rating_key)
    return ok(pin, message=f"pinned {pin['title']} ({pin['files']} files)", status=201)


async def remove_pin(request: web.Request) -> web.Response:
    """Unpin: the files go back to the array once their retention is over."""
    pin = await _pins(request).remove(request.match_info["rating_key"])
    return ok(pin, message=f"unpinned {pin['title']}")
