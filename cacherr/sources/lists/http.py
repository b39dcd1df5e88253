"""One shared HTTP client for every list provider: timeouts, a body size cap, plain errors.

Every failure becomes a `ListFetchError` whose message a person can act on ("refused
(HTTP 401): check the API key") and that never carries the URL's query (TMDb's v3 key
travels there) nor any header.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
from multidict import CIMultiDictProxy

from cacherr import __version__
from cacherr.sources.lists.masking import masked_url
from cacherr.sources.lists.model import ListFetchError

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S: Final = 30.0
DEFAULT_MAX_BODY_BYTES: Final = 16 * 2**20
_CHUNK: Final = 64 * 1024


@dataclass(frozen=True)
class Body:
    """A response body as text; `truncated` when the size cap cut it short."""

    text: str
    headers: CIMultiDictProxy[str]
    content_type: str
    truncated: bool = False

    def looks_like_html(self) -> bool:
        """An HTML page (a login wall, an error page) rather than data."""
        head = self.text.lstrip()[:200].lower()
        return self.content_type == "text/html" or head.startswith(("<!doctype html", "<html"))


class Fetcher:
    """The aiohttp session of the list providers; open it inside the running loop."""

    def __init__(
        self,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        self.timeout_s = timeout_s
        self.max_body_bytes = max_body_bytes
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Open the session."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout_s, sock_connect=self.timeout_s),
                headers={"User-Agent": f"Cacherr/{__version__}"},
                raise_for_status=False,
            )

    async def close(self) -> None:
        """Close the session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def get(
        self,
        url: str,
        *,
        what: str,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        partial_ok: bool = False,
    ) -> Body:
        """GET `url`; `what` names it in errors ("the Trakt list").

        A body past the size cap is an error, unless `partial_ok` (line-based formats):
        then its first part comes back marked truncated.
        """
        if self._session is None:
            await self.start()
        assert self._session is not None
        try:
            async with self._session.get(url, params=params, headers=headers) as resp:
                self._check_status(resp, what)
                length = resp.content_length
                if length is not None and length > self.max_body_bytes and not partial_ok:
                    raise ListFetchError(
                        f"{what} is larger than {self.max_body_bytes} bytes; not read"
                    )
                raw, truncated = await self._read(resp)
                if truncated and not partial_ok:
                    raise ListFetchError(
                        f"{what} is larger than {self.max_body_bytes} bytes; not read"
                    )
                text = raw.decode(resp.charset or "utf-8", errors="replace")
                return Body(text, resp.headers, resp.content_type, truncated)
        except TimeoutError:
            raise ListFetchError(f"{what} did not answer within {self.timeout_s:g} s") from None
        except aiohttp.ClientConnectionError as exc:
            raise ListFetchError(f"cannot reach {what} ({type(exc).__name__})") from None
        except aiohttp.ClientError as exc:
            raise ListFetchError(f"{what} failed ({type(exc).__name__})") from None

    def _check_status(self, resp: aiohttp.ClientResponse, what: str) -> None:
        status = resp.status
        if status < 400:
            return
        log.info("List fetch %s answered HTTP %d", masked_url(str(resp.url)), status)
        if status in (401, 403):
            raise ListFetchError(
                f"{what} refused access (HTTP {status}): check the API key or client id, "
                "and that the list is public"
            )
        if status == 404:
            raise ListFetchError(f"{what} was not found (HTTP 404): check the list's source")
        if status == 429:
            after = resp.headers.get("Retry-After", "")
            wait = f"; retry after {after} s" if after.isdigit() else ""
            raise ListFetchError(f"{what} is rate limited (HTTP 429){wait}")
        raise ListFetchError(f"{what} answered HTTP {status}")

    async def _read(self, resp: aiohttp.ClientResponse) -> tuple[bytes, bool]:
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(_CHUNK):
            chunks.append(chunk)
            size += len(chunk)
            if size > self.max_body_bytes:
                resp.close()
                return b"".join(chunks)[: self.max_body_bytes], True
            await asyncio.sleep(0)  # a huge body must not hog the loop between chunks
        return b"".join(chunks), False


def parse_json(body: Body, what: str) -> Any:
    """The body's JSON document, or a `ListFetchError` saying what came instead."""
    if body.looks_like_html():
        raise ListFetchError(f"{what} answered an HTML page instead of JSON")
    try:
        return json.loads(body.text)
    except json.JSONDecodeError as exc:
        raise ListFetchError(
            f"{what} answered malformed JSON (line {exc.lineno}, column {exc.colno})"
        ) from None
