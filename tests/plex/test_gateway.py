"""The gateway against the simulated Plex: off-loop calls, limits, retries, state and recovery."""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import trustme

from cacherr.events import Event, EventBus, Subscription
from cacherr.fakeplex import FakePlexServer, Show, World, start_fake_plex
from cacherr.plex.errors import (
    PlexNotConfigured,
    PlexNotFound,
    PlexRateLimited,
    PlexUnauthorized,
    PlexUnavailable,
)
from cacherr.plex.gateway import PlexGateway
from cacherr.plex.status import PlexStatus
from cacherr.plex.xmlget import environment_proxy
from tests.waiting import until

ON_DECK = "/library/sections/{id}/onDeck"


async def next_state(sub: Subscription, timeout_s: float = 5.0) -> Event:
    return await asyncio.wait_for(sub.get(), timeout_s)


async def test_connects_and_runs_plexapi_off_the_loop(
    gateway: PlexGateway, states: Subscription, world: World
) -> None:
    event = await next_state(states)
    assert event.data["state"] == "connected" and event.data["previous"] == "connecting"
    assert gateway.status.state == "connected"
    loop_thread = threading.get_ident()

    def where(server: object) -> tuple[int, str]:
        return threading.get_ident(), threading.current_thread().name

    ident, name = await gateway.run(where)
    assert ident != loop_thread and name.startswith("plex")
    assert await gateway.machine_identifier() == world.machine_identifier


async def test_errors_are_translated(gateway: PlexGateway, world: World) -> None:
    with pytest.raises(PlexNotFound):
        await gateway.query("/library/metadata/999999")
    with pytest.raises(PlexUnauthorized):
        await gateway.query("/library/sections/1/onDeck", token="not-a-token")
    assert gateway.status.state == "connected"  # a refused user token is not an outage


async def test_429_honours_retry_after_and_degrades(
    gateway: PlexGateway, fake: FakePlexServer, states: Subscription
) -> None:
    await next_state(states)  # connected
    rule = fake.faults.rule(route=ON_DECK)
    rule.too_many_requests, rule.retry_after_s = True, 1
    started = time.monotonic()
    task = asyncio.create_task(gateway.query("/library/sections/1/onDeck"))
    await until(lambda: fake.counter.count(ON_DECK) == 1)
    fake.faults.clear()
    await task
    assert time.monotonic() - started >= 0.9
    assert fake.counter.count(ON_DECK) == 2
    event = await next_state(states)
    assert event.data["state"] == "degraded" and "retries" in event.data["message"]
    for _ in range(3):
        await gateway.query("/library/sections/1/onDeck")
    assert (await next_state(states)).data["state"] == "connected"


async def test_429_without_end_raises_rate_limited(
    gateway: PlexGateway, fake: FakePlexServer
) -> None:
    rule = fake.faults.rule(route=ON_DECK)
    rule.too_many_requests, rule.retry_after_s = True, 0
    with pytest.raises(PlexRateLimited):
        await gateway.query("/library/sections/1/onDeck")
    assert fake.counter.count(ON_DECK) == 3  # one try and plex.retries = 2
    assert gateway.status.state == "degraded"


async def test_5xx_is_retried_then_reported(
    gateway: PlexGateway, fake: FakePlexServer, states: Subscription
) -> None:
    await next_state(states)
    fake.faults.rule(route=ON_DECK).error_rate = 1.0
    with pytest.raises(PlexUnavailable):
        await gateway.query("/library/sections/1/onDeck")
    assert fake.counter.count(ON_DECK) == 3
    assert (await next_state(states)).data["state"] == "degraded"
    fake.faults.clear()
    for _ in range(3):
        await gateway.query("/library/sections/1/onDeck")
    assert (await next_state(states)).data["state"] == "connected"


async def test_down_fails_fast_and_recovers_by_itself(
    gateway: PlexGateway, fake: FakePlexServer, states: Subscription
) -> None:
    await next_state(states)
    await fake.stop_listening()
    with pytest.raises(PlexUnavailable):
        await gateway.query("/library/sections/1/onDeck")
    event = await next_state(states)
    assert event.data["state"] == "down" and "no answer" in event.data["message"]
    assert gateway.status.state == "down"
    before = fake.counter.total()
    with pytest.raises(PlexUnavailable, match="Plex is down"):
        await gateway.query("/library/sections/1/onDeck")
    assert fake.counter.total() == before  # failed at once, without asking Plex again
    await fake.resume_listening()
    assert (await next_state(states)).data["state"] == "connected"
    await gateway.query("/library/sections/1/onDeck")


async def test_one_slow_endpoint_is_degraded_not_down(
    gateway: PlexGateway, fake: FakePlexServer, box: Any, states: Subscription
) -> None:
    """A big section can take longer than the timeout while Plex itself answers (plexapi pages
    listings by 100 for that reason): one slow endpoint must not mark Plex down."""
    await next_state(states)
    box.patch("plex", timeout_s=0.2, retries=0)
    fake.faults.rule(route=ON_DECK).latency_ms = 1000
    with pytest.raises(PlexUnavailable):
        await gateway.query("/library/sections/1/onDeck")
    assert (await next_state(states)).data["state"] == "degraded"
    assert (await next_state(states)).data["state"] == "connected"  # /identity answers quickly


async def test_a_server_that_answers_nothing_in_time_is_down(
    gateway: PlexGateway, fake: FakePlexServer, box: Any, states: Subscription
) -> None:
    await next_state(states)
    box.patch("plex", timeout_s=0.2, retries=0)
    fake.faults.rule().latency_ms = 1000
    with pytest.raises(PlexUnavailable):
        await gateway.query("/library/sections/1/onDeck")
    assert (await next_state(states)).data["state"] == "degraded"
    assert (await next_state(states)).data["state"] == "down"  # not even /identity answers
    fake.faults.clear()
    assert (await next_state(states)).data["state"] == "connected"


async def test_min_interval_spaces_calls(gateway: PlexGateway, box: Any) -> None:
    box.patch("plex", min_interval_ms=50)
    started = time.monotonic()
    await asyncio.gather(*(gateway.query("/identity") for _ in range(5)))
    assert time.monotonic() - started >= 0.2


async def test_max_per_minute_budget(gateway: PlexGateway, box: Any, fake: FakePlexServer) -> None:
    # Three more than the calls connecting made, all within this minute.
    box.patch("plex", max_per_minute=gateway.transport.calls["pms"] + 3)
    fake.counter.reset()
    tasks = [asyncio.create_task(gateway.query("/identity")) for _ in range(5)]
    await until(lambda: sum(t.done() for t in tasks) == 3)
    assert fake.counter.total() == 3  # the rest wait for the minute to roll over
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_unconfigured_gateway(bus: EventBus, box: Any) -> None:
    box.patch("plex", url="", token=None)
    gw = PlexGateway(lambda: box().plex, PlexStatus("connecting"), bus)
    await gw.start()
    try:
        assert await gw.wait_settled(2) == "not_configured"
        with pytest.raises(PlexNotConfigured):
            await gw.query("/library/sections")
    finally:
        await gw.close()


async def test_refused_owner_token_is_down_until_reconfigured(
    bus: EventBus, box: Any, world: World, states: Subscription
) -> None:
    box.patch("plex", token="wrong")
    gw = PlexGateway(lambda: box().plex, PlexStatus("connecting"), bus, probe_min_s=0.05)
    await gw.start()
    try:
        assert await gw.wait_settled(2) == "down"
        assert "401" in gw.status.message
        box.patch("plex", token=world.owner.token)
        gw.reconfigure()
        await until(lambda: gw.status.state == "connected")
    finally:
        await gw.close()


async def test_plextv_is_spaced_on_its_own_lane(gateway: PlexGateway, box: Any) -> None:
    box.patch("plex", plextv_min_interval_ms=100)
    started = time.monotonic()
    await asyncio.gather(*(gateway.run_plextv(lambda a: a.users()) for _ in range(3)))
    assert time.monotonic() - started >= 0.2
    # A plex.tv call made to wait a minute for its slot does not hold up the server's lane.
    box.patch("plex", plextv_min_interval_ms=60_000)
    held = asyncio.create_task(gateway.run_plextv(lambda a: a.users()))
    async with asyncio.timeout(10):
        await asyncio.gather(*(gateway.query("/identity") for _ in range(5)))
    assert not held.done()
    held.cancel()  # its thread is let go when the gateway closes


ACCOUNT = "/api/v2/user"


async def test_plextv_budget_stays_under_plextvs_rate_limit(
    gateway: PlexGateway, fake: FakePlexServer, box: Any
) -> None:
    """plex.tv answers 429 to bursts (watchstate #325, Maintainerr #1250; "10 requests per
    second ... will also block you", PlexAniSync #51): the simulated plex.tv enforces 10 a
    second, and a burst of callers at the default budget never crosses it."""
    url = f"{box().plex.plextv_url}{ACCOUNT}"
    await asyncio.gather(*(gateway.query_plextv(url) for _ in range(16)))
    assert fake.faults.plextv_limited == 0
    assert not [k for k in gateway.transport.answers if k[2] == "429"]
    # The same burst without the budget is refused by plex.tv (what fixed spacing at 0 did).
    box.patch("plex", plextv_burst=100, plextv_per_second=100)
    await asyncio.gather(*(gateway.query_plextv(url) for _ in range(16)))
    assert fake.faults.plextv_limited > 0


async def test_retry_after_holds_every_plextv_caller(
    gateway: PlexGateway, fake: FakePlexServer, box: Any
) -> None:
    """A 429's Retry-After is honoured by the whole plex.tv lane, not only by the request
    that got it (RFC 9110 Retry-After; watchstate #325 shows plex.tv's 429s)."""
    url = f"{box().plex.plextv_url}{ACCOUNT}"
    await gateway.query_plextv(url)  # the owner's account is built (its own first call)
    fake.counter.reset()
    rule = fake.faults.rule(kind="plextv", route=ACCOUNT)
    rule.too_many_requests, rule.retry_after_s = True, 1
    first = asyncio.create_task(gateway.query_plextv(url))
    await until(lambda: fake.counter.count(ACCOUNT) == 1)
    rule.too_many_requests = False
    await until(lambda: gateway.transport.plextv_budget.held_until > 0)
    held = gateway.transport.plextv_budget.held_until
    assert held > time.monotonic()  # the whole lane waits for plex.tv's second
    await first
    assert fake.counter.count(ACCOUNT) == 2  # asked again once, after the wait


async def test_plain_reads_do_not_wait_for_the_worker_threads(gateway: PlexGateway) -> None:
    """A show's episodes or an item are read on the loop: with every plexapi worker thread
    busy (a slow plex.tv call, say), a play's Plex answer still comes at once."""
    release = threading.Event()
    busy = [asyncio.create_task(gateway.run(lambda _: release.wait(10))) for _ in range(8)]
    try:
        async with asyncio.timeout(5):
            sections = await gateway.query("/library/sections")
        assert [d.get("title") for d in sections if d.tag == "Directory"]
        assert not any(task.done() for task in busy)
    finally:
        release.set()
        await asyncio.gather(*busy)


async def test_characters_xml_does_not_allow_are_cleaned_out(
    gateway: PlexGateway, world: World
) -> None:
    """Plex passes control characters from metadata into its XML, which then does not parse
    (python-plexapi #1450: a `\\x04` in an item's text; plexapi #1452 cleans them out and
    reads again). An episode titled so still comes back, without the character."""
    show = next(i for i in world.items.values() if isinstance(i, Show) and i.title == "Bluey")
    episode = show.seasons[0].episodes[0]
    episode.title = "How to Rob a Bank\x04"
    container = await gateway.query(f"/library/metadata/{show.rating_key}/allLeaves")
    titles = [v.get("title") for v in container if v.get("ratingKey") == str(episode.rating_key)]
    assert titles == ["How to Rob a Bank"]


async def test_a_read_cut_by_closing_ends_as_plex_unavailable(
    box: Any, bus: EventBus, fake: FakePlexServer
) -> None:
    gw = PlexGateway(lambda: box().plex, PlexStatus("connecting"), bus)
    await gw.start()
    assert await gw.wait_settled(5) == "connected"
    fake.faults.rule(route=ON_DECK).latency_ms = 2000
    read = asyncio.create_task(gw.query("/library/sections/1/onDeck"))
    await until(lambda: fake.counter.count(ON_DECK) == 1)
    await gw.close()
    with pytest.raises(PlexUnavailable, match="shutting down"):
        await read


def test_the_environments_proxy_is_used_unless_no_proxy_names_plex(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The proxy settings a container is given reach the XML reads as they reach plexapi's."""
    for name in ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    assert environment_proxy("http://plex.lan:32400") is None
    monkeypatch.setenv("http_proxy", "http://proxy.lan:3128")
    monkeypatch.setenv("https_proxy", "http://tls-proxy.lan:3128")
    monkeypatch.setenv("no_proxy", "localhost,.home.arpa")
    assert environment_proxy("http://plex.lan:32400") == "http://proxy.lan:3128"
    assert environment_proxy("https://1-2-3-4.abc.plex.direct:32400") == "http://tls-proxy.lan:3128"
    assert environment_proxy("http://localhost:32400") is None
    assert environment_proxy("http://tower.home.arpa:32400") is None


async def test_a_plex_behind_a_private_authority_is_trusted_as_requests_trusts_it(
    box: Any, bus: EventBus, world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Plex serves https on its own port (support.plex.tv, "How to Use Secure Server
    Connections"), with a certificate of the user's own for a custom domain if they set one
    (support.plex.tv, "Network": "Custom certificate location"). Such a user points
    `REQUESTS_CA_BUNDLE` (requests' documented variable) at their authority for plexapi; the
    reads made on the loop trust the same certificates: connected, and the library answers."""
    authority = trustme.CA()
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(served)
    bundle = tmp_path / "authority.pem"
    authority.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    secure = await start_fake_plex(world, tls=served)
    try:
        box.patch("plex", url=secure.url)
        gw = PlexGateway(lambda: box().plex, PlexStatus("connecting"), bus)
        await gw.start()
        try:
            assert await gw.wait_settled(5) == "connected"
            sections = await gw.query("/library/sections")
            assert {d.get("title") for d in sections if d.tag == "Directory"} >= {"TV Shows"}
            assert secure.counter.count("/library/sections") == 1
        finally:
            await gw.close()
    finally:
        await secure.close()
