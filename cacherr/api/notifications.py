"""`POST /api/notifications/test`: the page's Test button for apprise URLs."""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from cacherr import keys
from cacherr.api.body import read_json
from cacherr.api.envelope import ok
from cacherr.errors import BadRequest

MAX_TEST_URLS = 20

AppriseUrl = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class NotificationTest(BaseModel):
    """Body of the test: URLs to try instead of the configured ones (e.g. before saving)."""

    model_config = ConfigDict(extra="forbid")

    urls: list[AppriseUrl] | None = Field(
        None,
        min_length=1,
        max_length=MAX_TEST_URLS,
        description="apprise URLs to test; unset tests the configured URLs.",
    )


async def _requested_urls(request: web.Request) -> list[str] | None:
    data = await read_json(request)
    if data is None:
        return None
    try:
        return NotificationTest.model_validate(data).urls
    except ValidationError as exc:
        # Only the field and the reason: the input is a URL with its token.
        reasons = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}"
            for err in exc.errors(include_url=False, include_input=False)
        )
        raise BadRequest(f"invalid request: {reasons}") from None


async def test_notifications(request: web.Request) -> web.Response:
    """Send a test message to the configured apprise URLs, or to the body's `urls`.

    Answers one result per URL, by position and service name (the URL's scheme); the
    URLs themselves carry tokens and are never sent back.
    """
    urls = await _requested_urls(request)
    if urls is None and not request.app[keys.CONFIG].current.notifications.urls:
        raise BadRequest("no notification URLs are configured; add one or send 'urls'")
    deliveries = await request.app[keys.NOTIFIER].send_test(urls)
    sent = sum(d.ok for d in deliveries)
    return ok(
        {
            "results": [d.as_dict() for d in deliveries],
            "sent": sent,
            "failed": len(deliveries) - sent,
        },
        message=f"Test notification sent to {sent} of {len(deliveries)} services",
    )
