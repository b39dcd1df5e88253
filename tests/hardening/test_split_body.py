"""A JSON body that arrives in pieces (a slow link, a settings save bigger than one packet) is
read to its end before it is parsed."""

from __future__ import annotations

import asyncio
import json

from cacherr.app import create_app
from cacherr.config import ConfigStore
from tests.hardening.conftest import SECRETS, ClientFactory


async def test_a_settings_save_sent_in_two_pieces_is_read_whole(
    aiohttp_client: ClientFactory, hstore: ConfigStore
) -> None:
    client = await aiohttp_client(create_app(hstore))
    port = client.make_url("/").port
    body = json.dumps({"retention": {"hours": 7}}).encode()
    head = (
        f"PATCH /api/settings HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"X-Api-Key: {SECRETS['api_key']}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head + body[:5])
        await writer.drain()
        await asyncio.sleep(0.2)  # the first piece is in the server's hands alone
        writer.write(body[5:])
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
    assert hstore.current.retention.hours == 7
