"""Notifications: apprise posting to a local receiver, batching, toggles, failures that
never slow the daemon, and the Test endpoint through the real app."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cacherr import events, keys
from cacherr.config import ConfigStore
from cacherr.config.models import NotificationEvents
from cacherr.config.watch import ConfigWatcher
from cacherr.db import Database
from cacherr.events import Event, EventBus
from cacherr.executor.queue import Executor
from cacherr.fakeplex import World, start_fake_plex
from cacherr.files.paths import PathResolver
from cacherr.notify import Notifier, compose
from cacherr.notify.digest import PlexTransitions
from cacherr.plex.errors import PlexUnavailable
from cacherr.plex.gateway import PlexGateway
from cacherr.plex.status import PlexStatus
from cacherr.usage import UsageSampler

from .conftest import Receiver

SECRET = "hunter2"


def configure(store: ConfigStore, urls: list[str], window_s: float = 0.2, **toggles: bool) -> None:
    store.save({"notifications": {"urls": urls, "batch_window_s": window_s, "events": toggles}})


@pytest.fixture
def bus() -> EventBus:
    return EventBus()


@pytest.fixture
async def notifier(store: ConfigStore, bus: EventBus) -> AsyncIterator[Notifier]:
    running = Notifier(store, bus, timeout_s=5.0)
    await running.start()
    yield running
    await running.close()


class Copies:
    """The real executor on the notifier's bus, copying files under `tmp_path`: the
    `operation_complete` events the notifier receives are the ones a running daemon's
    executor publishes, so a field renamed on either side fails these tests."""

    def __init__(self, executor: Executor, resolver: PathResolver, array: Path) -> None:
        self._executor = executor
        self._resolver = resolver
        self._array = array

    async def cache(self, *episodes: int, size_bytes: int = 1000) -> None:
        """Copy `Show S01Enn.mkv` for each number to the pool, until every copy ended."""
        for n in episodes:
            name = f"Show S01E{n:02d}.mkv"
            (self._array / "Show" / name).write_bytes(b"m" * size_bytes)
            self._executor.submit("cache", self._resolver.from_plex(f"/data/Show/{name}"))
        await self._executor.run_until_idle()

    async def restore(self, *episodes: int) -> None:
        """Put cached episodes back on the array, until every restore ended."""
        for n in episodes:
            location = self._resolver.from_plex(f"/data/Show/Show S01E{n:02d}.mkv")
            self._executor.submit("restore", location)
        await self._executor.run_until_idle()


@pytest.fixture
async def copies(store: ConfigStore, bus: EventBus, tmp_path: Path) -> AsyncIterator[Copies]:
    array, cache = tmp_path / "array", tmp_path / "cache"
    (array / "Show").mkdir(parents=True)
    cache.mkdir()
    mapping = {"name": "tv", "plex": "/data", "array": str(array), "cache": str(cache)}
    store.save({"paths": {"mappings": [mapping]}})
    db = await Database.open(tmp_path / "cacherr.db")
    executor = Executor(db, bus, lambda: store.current)
    await executor.start()
    try:
        yield Copies(executor, PathResolver(store.current.paths.mappings), array)
    finally:
        await executor.close()
        await db.close()


def done(
    kind: events.OperationKind, path: str, size_bytes: int = 0, error: str | None = None
) -> events.OperationComplete:
    """An operation's end as the executor tells it (`path` is the Plex path); for the tests
    of how a batch reads, where the sizes and failures must be exactly these."""
    return events.OperationComplete(
        id=1, kind=kind, path=path, result="failed" if error else "done", error=error,
        duration_s=1.0, size_bytes=size_bytes,
    )  # fmt: skip


def cached(n: int, size_bytes: int = 246_000_000) -> events.OperationComplete:
    return done("cache", f"/data/tv/Show/Season 01/Show S01E{n:02d}.mkv", size_bytes)


def sweep(duration_s: float, restored: int = 0) -> events.CycleComplete:
    return events.CycleComplete(
        cached=1, restored=restored, evicted=0, unfit=0, duration_s=duration_s, failed={},
        message="Sweep finished",
    )  # fmt: skip


async def test_fifty_cached_files_make_one_message(
    store: ConfigStore, bus: EventBus, notifier: Notifier, receiver: Receiver
) -> None:
    """How fifty completions read (sizes as big as real episodes): typed events built here;
    the executor's own fifty copies are `test_the_running_app_notifies_from_its_own_bus`."""
    configure(store, [receiver.url(auth=f"cacherr:{SECRET}")], window_s=0.3)
    for n in range(1, 51):
        bus.publish(cached(n))
    await notifier.run_until_idle()

    assert len(receiver.messages) == 1
    message = receiver.messages[0]
    assert message["title"] == "Cacherr: files cached"
    assert message["type"] == "success"
    assert message["message"] == (
        "Cached 50 files (12.3 GB): Show S01E01.mkv, Show S01E02.mkv, Show S01E03.mkv, "
        "Show S01E04.mkv, Show S01E05.mkv, …and 45 more"
    )
    assert receiver.headers[0]["Authorization"].startswith("Basic ")


async def test_events_after_the_window_make_a_second_message(
    store: ConfigStore, notifier: Notifier, receiver: Receiver, copies: Copies
) -> None:
    configure(store, [receiver.url()], window_s=0.1)
    await copies.cache(1)
    await notifier.run_until_idle()
    await copies.cache(2, 3)
    await notifier.run_until_idle()

    assert [m["message"].split(":")[0] for m in receiver.messages] == [
        "Cached 1 file (1.0 KB)",
        "Cached 2 files (2.0 KB)",
    ]


async def test_a_mixed_batch_is_one_message_most_urgent_first(
    store: ConfigStore, bus: EventBus, notifier: Notifier, receiver: Receiver
) -> None:
    """How one batch of every kind reads: typed events built here, since a failed copy, a
    full pool and a sweep at once take the whole daemon; each producer is driven by its own
    test below (config error, low space, Plex down) or in tests/reactor (the sweep)."""
    configure(store, [receiver.url()], restores=True, sweep_summary=True)
    bus.publish(cached(1))
    bus.publish(done("restore", "/data/movies/Heat.mkv"))
    bus.publish(done("cache", "/data/movies/Alien.mkv", error="no space"))
    low = "/mnt/cache"
    bus.publish(
        events.LowSpace(free_bytes=5 * 10**9, total_bytes=500 * 10**9, path=low, message="")
    )
    bus.publish(sweep(duration_s=3.25, restored=1))
    await notifier.run_until_idle()

    assert len(receiver.messages) == 1
    message = receiver.messages[0]
    assert message["type"] == "failure"
    assert message["title"] == (
        "Cacherr: errors, cache pool low on space, files cached, files restored, sweep complete"
    )
    assert message["message"].splitlines() == [
        "1 operation failed: cache Alien.mkv (no space)",
        "The cache pool is low on space: 5.0 GB free of 500.0 GB on /mnt/cache",
        "Cached 1 file (246.0 MB): Show S01E01.mkv",
        "Restored 1 file to the array: Heat.mkv",
        "Sweep finished in 3.2 s: 1 cached, 1 restored, 0 evicted",
    ]


async def test_toggles_off_send_nothing_and_edits_apply_at_once(
    store: ConfigStore, bus: EventBus, notifier: Notifier, receiver: Receiver, copies: Copies
) -> None:
    """The executor's real starts and ends; the sweep's end is built here (a sweep takes
    the whole daemon: tests/reactor drives it)."""
    configure(store, [receiver.url()], caching_summary=False)
    await copies.cache(1)
    # Off by default: restores and sweep summaries (and a start is never news).
    await copies.restore(1)
    bus.publish(sweep(duration_s=1.0))
    await notifier.run_until_idle()
    assert receiver.requests == 0

    configure(store, [receiver.url()], caching_summary=True)
    await copies.cache(2)
    await notifier.run_until_idle()
    assert [m["message"] for m in receiver.messages] == ["Cached 1 file (1.0 KB): Show S01E02.mkv"]


async def test_nothing_is_sent_without_urls(
    store: ConfigStore, notifier: Notifier, receiver: Receiver, copies: Copies
) -> None:
    configure(store, [])
    await copies.cache(1)
    await notifier.run_until_idle()
    assert receiver.messages == []
    assert notifier.sent_messages == 0


async def test_plex_down_and_back_but_not_the_first_connect(
    store: ConfigStore, bus: EventBus, notifier: Notifier, receiver: Receiver, tmp_path: Path
) -> None:
    """The gateway's own `plex_state` events, the simulated Plex stopping and coming back."""
    world = World(array_root=tmp_path / "array", plex_root="/data", file_bytes=16)
    world.add_movie("Heat", year=1995)
    fake = await start_fake_plex(world)
    configure(store, [receiver.url()], window_s=0.05)
    store.save({"plex": {"url": fake.url, "token": world.owner.token, "timeout_s": 2,
                         "plextv_url": fake.plextv_url, "retries": 1}})  # fmt: skip
    gateway = PlexGateway(
        lambda: store.current.plex, PlexStatus("connecting"), bus,
        backoff_base_s=0.01, probe_min_s=0.05, probe_max_s=0.2,
    )  # fmt: skip
    try:
        await gateway.start()
        assert await gateway.wait_settled(5) == "connected"
        await notifier.run_until_idle()
        assert receiver.messages == []  # the first connect is not news
        await fake.stop_listening()
        with pytest.raises(PlexUnavailable):
            await gateway.query("/library/sections")
        await notifier.run_until_idle()
        await fake.resume_listening()
        deadline = asyncio.get_running_loop().time() + 10
        while gateway.status.state != "connected":
            assert asyncio.get_running_loop().time() < deadline, gateway.status
            await asyncio.sleep(0.02)
        await notifier.run_until_idle()
    finally:
        await gateway.close()
        await fake.close()

    assert [(m["title"], m["type"]) for m in receiver.messages] == [
        ("Cacherr: Plex is down", "failure"),
        ("Cacherr: Plex is back", "success"),
    ]
    assert receiver.messages[0]["message"].startswith("Plex is down: ")
    assert receiver.messages[1]["message"].startswith("Plex is back: connected to ")


def test_only_down_and_back_are_plex_news() -> None:
    """Degraded (one kind of request failing) and a repeated state are not worth a message.

    The filter alone, on typed states built here; the gateway's own `plex_state` events go
    through it in `test_plex_down_and_back_but_not_the_first_connect`."""
    transitions = PlexTransitions()

    def state(name: str) -> events.PlexState:
        return events.PlexState(state=name, message="", since=0.0, previous="")

    seen = ("connected", "degraded", "down", "down", "degraded", "connected", "connected")
    told = [transitions.accept(state(s)) for s in seen]
    assert told == [False, False, True, False, False, True, False]


async def test_a_config_error_is_an_error(
    store: ConfigStore, bus: EventBus, notifier: Notifier, receiver: Receiver
) -> None:
    """The config watcher's own event when cacherr.json is edited into an invalid value."""
    configure(store, [receiver.url()], window_s=0)
    watcher = ConfigWatcher(store, bus)
    await watcher.start()
    try:
        data = json.loads(store.path.read_text())
        data["cache"] = {"limit": "lots"}
        store.path.write_text(json.dumps(data))
        await watcher.check_now()
    finally:
        await watcher.close()
    await notifier.run_until_idle()
    message = receiver.messages[0]["message"]
    assert message.startswith("The edit to cacherr.json was not applied: ")
    assert "cache.limit" in message and "lots" in message


async def test_low_space_is_told_once_until_the_pool_has_room_again(
    store: ConfigStore, bus: EventBus, notifier: Notifier, receiver: Receiver, tmp_path: Path
) -> None:
    """The usage sampler's own `low_space` event: free space under `cache.min_free`."""
    array, cache = tmp_path / "array", tmp_path / "cache"
    array.mkdir()
    cache.mkdir()
    mapping = {"name": "tv", "plex": "/data", "array": str(array), "cache": str(cache)}
    store.save({"paths": {"mappings": [mapping]}, "cache": {"min_free": "100%"}})
    configure(store, [receiver.url()], window_s=0)
    db = await Database.open(tmp_path / "cacherr.db")
    sampler = UsageSampler(db, bus, lambda: store.current)
    try:
        await sampler.sample()
        await sampler.sample()  # still short: not told again
        await notifier.run_until_idle()
        assert len(receiver.messages) == 1
        store.save({"cache": {"min_free": "0B"}})
        await sampler.sample()  # room again
        store.save({"cache": {"min_free": "100%"}})
        await sampler.sample()  # short again: told again
        await notifier.run_until_idle()
    finally:
        await db.close()
    assert [m["title"] for m in receiver.messages] == ["Cacherr: cache pool low on space"] * 2
    body = receiver.messages[0]["message"]
    assert body.startswith("The cache pool is low on space: ")
    assert f"on {cache} (less than the 100% kept free)" in body
    assert receiver.messages[0]["type"] == "warning"


async def test_a_dead_receiver_is_logged_by_service_name_only(
    store: ConfigStore,
    notifier: Notifier,
    copies: Copies,
    dead_port: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"json://cacherr:{SECRET}@127.0.0.1:{dead_port}/token-path-{SECRET}"
    configure(store, [url], window_s=0)
    await copies.cache(1)
    await notifier.run_until_idle()

    failures = [r for r in caplog.records if r.name == "cacherr.notify.sender"]
    assert [r.getMessage() for r in failures] == [
        "Notification to URL #1 (json) failed: "
        "the service refused the message or could not be reached"
    ]
    assert failures[0].levelno == logging.WARNING
    assert SECRET not in caplog.text
    assert f":{dead_port}/" not in caplog.text
    # The loop goes on: a later event is still handled.
    await copies.cache(2)
    await notifier.run_until_idle()
    assert len([r for r in caplog.records if r.name == "cacherr.notify.sender"]) == 2


async def test_a_slow_service_never_blocks_the_event_loop(
    store: ConfigStore, bus: EventBus, notifier: Notifier, receiver: Receiver
) -> None:
    """The receiver runs on the test's own loop and holds the first message until released:
    if sending blocked the loop, the receiver could never take it and this test would hang.

    About the notifier's own queue under a burst, so 501 typed completions are built here
    (as many real copies would only slow the test)."""
    receiver.gate.clear()
    configure(store, [receiver.url()], window_s=0)
    bus.publish(cached(1))
    await receiver.wait_for_requests(1)  # the send is now waiting on the receiver

    for n in range(2, 502):
        bus.publish(cached(n))
    assert notifier.dropped == 0 and receiver.messages == []
    receiver.gate.set()

    await notifier.run_until_idle()
    assert [m["message"][:22] for m in receiver.messages] == [
        "Cached 1 file (246.0 M",
        "Cached 500 files (123.",
    ]


async def test_a_hung_service_times_out(
    store: ConfigStore,
    bus: EventBus,
    receiver: Receiver,
    copies: Copies,
    caplog: pytest.LogCaptureFixture,
) -> None:
    receiver.gate.clear()  # the service takes the request and never answers
    configure(store, [receiver.url()], window_s=0)
    impatient = Notifier(store, bus, timeout_s=0.3)
    await impatient.start()
    try:
        await copies.cache(1)
        async with asyncio.timeout(10):
            await impatient.run_until_idle()
        assert receiver.requests == 1 and receiver.messages == []  # given up, not answered
    finally:
        await impatient.close()
        receiver.gate.set()
    assert "Notification to URL #1 (json) failed: no answer within 0.3 s" in caplog.text
    await receiver.wait_for(1)  # let the abandoned request finish before the server stops


async def test_a_batch_still_waiting_is_sent_at_shutdown(
    store: ConfigStore, bus: EventBus, receiver: Receiver, copies: Copies
) -> None:
    configure(store, [receiver.url()], window_s=60)
    stopping = Notifier(store, bus)
    await stopping.start()
    await copies.cache(1)
    await stopping.close()  # at once: the event may not have left the queue yet
    assert [m["message"] for m in receiver.messages] == ["Cached 1 file (1.0 KB): Show S01E01.mkv"]


def test_compose_leaves_out_what_is_switched_off() -> None:
    """The composer alone, on one typed completion built here."""
    batch: list[Event] = [cached(1)]
    assert compose(batch, NotificationEvents(caching_summary=False)) is None
    message = compose(batch, NotificationEvents())
    assert message is not None
    assert message.body == "Cached 1 file (246.0 MB): Show S01E01.mkv"


# --- the Test endpoint, through the real app ---------------------------------------------


def api_key(store: ConfigStore) -> dict[str, str]:
    key = store.current.web.api_key
    assert key is not None
    return {"X-Api-Key": key.get_secret_value()}


async def test_the_test_endpoint_sends_to_the_configured_urls(
    client: TestClient[Any, Any], store: ConfigStore, receiver: Receiver
) -> None:
    configure(store, [receiver.url(path=f"hook-{SECRET}", auth=f"cacherr:{SECRET}")])
    resp = await client.post("/api/notifications/test", headers=api_key(store))
    text = await resp.text()
    assert resp.status == 200, text
    body = await resp.json()
    assert body["success"] is True
    assert body["data"]["sent"] == 1 and body["data"]["failed"] == 0
    [result] = body["data"]["results"]
    assert result["index"] == 0 and result["service"] == "json" and result["ok"] is True
    # Nothing of the URL comes back (its port as a URL has it: a bare number may be a time).
    assert SECRET not in text and f":{receiver.port}" not in text and "127.0.0.1" not in text
    assert receiver.messages[0]["title"] == "Cacherr: test notification"


async def test_the_test_endpoint_tries_urls_from_the_body_one_by_one(
    client: TestClient[Any, Any],
    store: ConfigStore,
    receiver: Receiver,
    dead_port: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    urls = [receiver.url(), f"json://127.0.0.1:{dead_port}/{SECRET}", f"nosuchservice://{SECRET}"]
    resp = await client.post("/api/notifications/test", json={"urls": urls}, headers=api_key(store))
    text = await resp.text()
    assert resp.status == 200, text
    data = (await resp.json())["data"]
    assert [(r["service"], r["ok"]) for r in data["results"]] == [
        ("json", True),
        ("json", False),
        ("nosuchservice", False),
    ]
    assert data["results"][2]["error"] == "not a valid apprise URL"
    assert (data["sent"], data["failed"]) == (1, 2)
    assert SECRET not in text
    # apprise's own complaint about the unknown URL is cut down to its scheme.
    assert "nosuchservice://…" in caplog.text
    assert SECRET not in caplog.text
    assert len(receiver.messages) == 1


async def test_the_test_endpoint_refuses_bad_requests_without_echoing_them(
    client: TestClient[Any, Any], store: ConfigStore
) -> None:
    headers = api_key(store)
    resp = await client.post("/api/notifications/test", headers=headers)
    assert resp.status == 400
    assert "no notification URLs" in (await resp.json())["message"]

    resp = await client.post(
        "/api/notifications/test", json={"urls": [f"json://{SECRET}", 3]}, headers=headers
    )
    text = await resp.text()
    assert resp.status == 400
    assert SECRET not in text

    resp = await client.post("/api/notifications/test", json={"urls": ["json://x/y"]})
    assert resp.status == 401


async def test_the_running_app_notifies_from_its_own_bus(
    client: TestClient[Any, Any], store: ConfigStore, receiver: Receiver, tmp_path: Path
) -> None:
    """Fifty real copies by the executor, on the app's own bus, make one message."""
    array, cache = tmp_path / "array", tmp_path / "cache"
    (array / "Show").mkdir(parents=True)
    cache.mkdir()
    for n in range(1, 51):
        (array / "Show" / f"Show - S01E{n:02d}.mkv").write_bytes(b"m" * 1000)
    store.save({"paths": {"mappings": [
        {"name": "tv", "plex": "/data", "array": str(array), "cache": str(cache)}
    ]}})  # fmt: skip
    configure(store, [receiver.url()], window_s=0.5)
    app = client.app
    assert app is not None
    executor = Executor(app[keys.DB], app[keys.BUS], lambda: store.current)
    await executor.start()
    resolver = PathResolver(store.current.paths.mappings)
    for n in range(1, 51):
        executor.submit("cache", resolver.from_plex(f"/data/Show/Show - S01E{n:02d}.mkv"))
    await executor.run_until_idle()
    await executor.close()
    await app[keys.NOTIFIER].run_until_idle()
    # Batched by the window (how many batches depends on the machine's speed).
    counted = [m["message"].split(" ")[1] for m in receiver.messages]
    assert sum(int(n) for n in counted) == 50
    assert all(m["title"] == "Cacherr: files cached" for m in receiver.messages)
    assert receiver.messages[0]["message"].startswith("Cached ")
    assert "Show - S01E01.mkv" in receiver.messages[0]["message"]
