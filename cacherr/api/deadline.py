"""Slow clients: a request's body must arrive within `web.body_timeout_s`.

The header deadline is the server's keep-alive timer (`web.header_timeout_s`, passed to
`web.run_app` by the command line): aiohttp arms it when a connection opens and after each
answer, and closes a connection still waiting for a complete request when it fires, however
many header lines trickle in meanwhile. Nothing in aiohttp bounds the body, so a handler
reading it would wait for ever on a client that sends a byte now and then: this middleware
fails the read and closes the connection when the deadline passes.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from cacherr import keys
from cacherr.errors import RequestTimeout

log = logging.getLogger(__name__)


@web.middleware
async def body_deadline_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Disconnect a client whose body has not fully arrived within `web.body_timeout_s`."""
    if not request.body_exists or request.content.is_eof():
        return await handler(request)
    timeout_s = request.app[keys.CONFIG].current.web.body_timeout_s

    def expire() -> None:
        if request.content.is_eof():
            return
        log.info(
            "A client at %s sent its request body too slowly (over %g s); disconnected",
            request.remote,
            timeout_s,
        )
        request.content.set_exception(RequestTimeout(f"the body took over {timeout_s:g} s"))
        if request.protocol is not None:
            request.protocol.force_close()

    handle = asyncio.get_running_loop().call_later(timeout_s, expire)
    try:
        return await handler(request)
    finally:
        handle.cancel()
