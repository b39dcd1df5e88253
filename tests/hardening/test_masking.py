"""Credentials inside URLs stay masked wherever text leaves the daemon, whatever their origin:
not only the values Cacherr keeps as secrets (`cacherr.security.masking`)."""

from __future__ import annotations

import asyncio
import logging

from cacherr import events, keys
from cacherr.app import create_app
from cacherr.config import ConfigStore
from cacherr.fakeplex import FakePlexServer, World
from tests.hardening.conftest import SECRETS, ClientFactory
from tests.waiting import until


async def test_a_plex_address_with_a_token_in_it_is_shown_masked_and_kept(
    aiohttp_client: ClientFactory, hstore: ConfigStore, fake: FakePlexServer, world: World
) -> None:
    """Plex Web's "View XML" opens `…?X-Plex-Token=<token>` (Plex support, "Finding an
    authentication token / X-Plex-Token"): pasted as the server's address, it carries one."""
    token = world.user("alice").token  # a token that is not one of Cacherr's own settings
    address = f"{fake.url}/?X-Plex-Token={token}"
    hstore.save({"plex": {"url": address}})
    client = await aiohttp_client(create_app(hstore), headers={"X-Api-Key": SECRETS["api_key"]})

    resp = await client.get("/api/settings")
    text = await resp.text()
    assert token not in text
    shown = (await resp.json())["data"]["settings"]["plex"]
    assert shown["url"] == f"{fake.url}/?X-Plex-Token=********"

    # The page sends back what it was shown: the address keeps its token.
    resp = await client.patch("/api/settings", json={"plex": {**shown, "timeout_s": 3}})
    assert resp.status == 200, await resp.text()
    assert token not in await resp.text()
    assert hstore.current.plex.url == address and hstore.current.plex.timeout_s == 3


async def test_a_warning_naming_a_url_with_credentials_reaches_the_page_masked(
    aiohttp_client: ClientFactory, hstore: ConfigStore, world: World
) -> None:
    """A Home user's token (fetched from plex.tv, never a setting) and a list's password in a
    warning: the page's `log` event and the activity feed show neither."""
    client = await aiohttp_client(create_app(hstore), headers={"X-Api-Key": SECRETS["api_key"]})
    token, password = world.user("alice").token, "pa55-w0rd-ab12cd"
    seen: list[events.Event] = []
    client.app[keys.BUS].listen(seen.append)
    logging.getLogger("cacherr.sources").warning(
        "Could not read http://10.0.0.2:32400/library/onDeck?X-Plex-Token=%s nor "
        "https://lister:%s@lists.example/list.json",
        token,
        password,
    )
    await until(lambda: any(isinstance(e, events.Log) for e in seen))
    (log_event,) = [e for e in seen if isinstance(e, events.Log)]
    assert log_event.message == (
        "Could not read http://10.0.0.2:32400/library/onDeck?X-Plex-Token=******** nor "
        "https://lister:********@lists.example/list.json"
    )

    async def feed() -> str:
        return await (await client.get("/api/activity")).text()

    deadline = asyncio.get_running_loop().time() + 10
    while "onDeck" not in (text := await feed()):
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.02)
    assert token not in text and password not in text
