"""Notifications: apprise posting to a local receiver, batching, toggles, failures that
never slow the daemon, and the Test endpoint through the real app."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cacherr import events, keys
from cacherr.config import ConfigStore
from cacherr.config.models import NotificationEvents
from cacherr.events import Event, EventBus
from cacherr.notify import Notifier, compose

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


def cached(n: int, size_bytes: int = 246_000_000) -> dict[str, Any]:
    return {
        "kind": "cache",
        "result": "done",
        "title": f"Show S01E{n:02d}",
        "path": f"/mnt/cache/tv/Show/Season 01/Show - S01E{n:02d}.mkv",
        "size_bytes": size_bytes,
    }


async def test_fifty_cached_files_make_one_message(
    store: ConfigStore, bus: EventBus, notifier: Notifier, receiver: Receiver
) -> None:
    configure(store, [receiver.url(auth=f"cacherr:{SECRET}")], window_s=0.3)
    for n in range(1, 51):
        bus.publish(events.OPERATION_COMPLETE, **cached(n))
    await notifier.run_until_idle()

    assert len(receiver.messages) == 1
    message = receiver.messages[0]
    assert message["title"] == "Cacherr: files cached"
    assert message["type"] == "success"
    assert message["message"] == (
        "Cached 50 files (12.3 GB): Show S01E01, Show S01E02, Show S01E03, Show S01E04, "
        "Show S01E05, …and 45 more"
    )
    assert receiver.headers[0]["Authorization"].startswith("Basic ")


async def test_events_after_the_window_make_a_second_message(
    store: ConfigStore, bus: EventBus, notifier: Notifier, receiver: Receiver
) -> None:
    configure(store, [receiver.url()], window_s=0.1)
    bus.publish(events.OPERATION_COMPLETE, **cached(1))
    await notifier.run_until_idle()
    bus.publish(events.OPERATION_COMPLETE, **cached(2))
    bus.publish(events.OPERATION_COMPLETE, **cached(3))
    await notifier.run_until_idle()

    assert [m["message"].split(":")[0] for m in receiver.messages] == [
        "Cached 1 file (246.0 MB)",
        "Cached 2 files (492.0 MB)",
    ]


async def test_a_mixed_batch_is_one_message_most_urgent_first(
    store: ConfigStore, bus: EventBus, notifier: Notifier, receiver: Receiver
) -> None:
    configure(store, [receiver.url()], restores=True, sweep_summary=True)
    bus.publish(events.OPERATION_COMPLETE, **cached(1))
    bus.publish(events.OPERATION_COMPLETE, kind="restore", result="done", path="/a/Heat.mkv")
    bus.publish(
        events.OPERATION_COMPLETE, kind="cache", result="failed", title="Alien", error="no space"
    )
    bus.publish(events.LOW_SPACE, free_bytes=5 * 10**9, total_bytes=500 * 10**9, path="/mnt/cache")
    bus.publish(events.CYCLE_COMPLETE, cached=1, restored=1, evicted=0, duration_s=3.25)
    await notifier.run_until_idle()

    assert len(receiver.messages) == 1
    message = receiver.messages[0]
    assert message["type"] == "failure"
    assert message["title"] == (
        "Cacherr: errors, cache pool low on space, files cached, files restored, sweep complete"
    )
    assert message["message"].splitlines() == [
        "1 operation failed: cache Alien (no space)",
        "The cache pool is low on space: 5.0 GB free of 500.0 GB on /mnt/cache",
        "Cached 1 file (246.0 MB): Show S01E01",
        "Restored 1 file to the array: Heat.mkv",
        "Sweep finished in 3.2 s: 1 cached, 1 restored, 0 evicted",
    ]


async def test_toggles_off_send_nothing_and_edits_apply_at_once(
    store: ConfigStore, bus: EventBus, notifier: Notifier, receiver: Receiver
) -> None:
    configure(store, [receiver.url()], caching_summary=False)
    bus.publish(events.OPERATION_COMPLETE, **cached(1))
    # Off by default: restores and sweep summaries.
    bus.publish(events.OPERATION_COMPLETE, kind="restore", result="done", title="Heat")
    bus.publish(events.CYCLE_COMPLETE, cached=1, restored=0, evicted=0, duration_s=1.0)
    bus.publish(events.OPERATION_STARTED, kind="cache", title="never notified")
    await notifier.run_until_idle()
    assert receiver.requests == 0

    configure(store, [receiver.url()], caching_summary=True)
    bus.publish(events.OPERATION_COMPLETE, **cached(2))
    await notifier.run_until_idle()
    assert [m["message"] for m in receiver.messages] == ["Cached 1 file (246.0 MB): Show S01E02"]


async def test_nothing_is_sent_without_urls(
    store: ConfigStore, bus: EventBus, notifier: Notifier, receiver: Receiver
) -> None:
    configure(store, [])
    bus.publish(events.OPERATION_COMPLETE, **cached(1))
    await notifier.run_until_idle()
    assert receiver.messages == []
    assert notifier.sent_messages == 0


async def test_plex_down_and_back_but_not_degraded_or_the_first_connect(
    store: ConfigStore, bus: EventBus, notifier: Notifier, receiver: Receiver
) -> None:
    configure(store, [receiver.url()], window_s=0.05)
    for state, message in [
        ("connected", "connected to Tower"),
        ("degraded", "sessions: timeout"),
        ("down", "connection refused"),
        ("down", "still refused"),
    ]:
        bus.publish(events.PLEX_STATE, state=state, message=message, previous="x")
    await notifier.run_until_idle()
    bus.publish(events.PLEX_STATE, state="connected", message="connected to Tower")
    await notifier.run_until_idle()

    assert [(m["title"], m["message"], m["type"]) for m in receiver.messages] == [
        ("Cacherr: Plex is down", "Plex is down: connection refused", "failure"),
        ("Cacherr: Plex is back", "Plex is back: connected to Tower", "success"),
    ]


async def test_a_config_error_is_an_error(
    store: ConfigStore, bus: EventBus, notifier: Notifier, receiver: Receiver
) -> None:
    configure(store, [receiver.url()], window_s=0)
    bus.publish(
        events.CONFIG_ERROR,
        message="The edit to cacherr.json was not applied",
        problems=["cache.limit: 'lots' is not a size"],
    )
    await notifier.run_until_idle()
    assert receiver.messages[0]["message"] == (
        "The edit to cacherr.json was not applied: cache.limit: 'lots' is not a size"
    )


async def test_a_dead_receiver_is_logged_by_service_name_only(
    store: ConfigStore,
    bus: EventBus,
    notifier: Notifier,
    dead_port: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"json://cacherr:{SECRET}@127.0.0.1:{dead_port}/token-path-{SECRET}"
    configure(store, [url], window_s=0)
    bus.publish(events.OPERATION_COMPLETE, **cached(1))
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
    bus.publish(events.OPERATION_COMPLETE, **cached(2))
    await notifier.run_until_idle()
    assert len([r for r in caplog.records if r.name == "cacherr.notify.sender"]) == 2


async def test_a_slow_service_never_blocks_the_event_loop(
    store: ConfigStore, bus: EventBus, notifier: Notifier, receiver: Receiver
) -> None:
    """The receiver runs on the test's own loop and holds the first message until released:
    if sending blocked the loop, the receiver could never take it and this test would hang."""
    receiver.gate.clear()
    configure(store, [receiver.url()], window_s=0)
    bus.publish(events.OPERATION_COMPLETE, **cached(1))
    await receiver.wait_for_requests(1)  # the send is now waiting on the receiver

    for n in range(2, 502):
        bus.publish(events.OPERATION_COMPLETE, **cached(n))
    assert notifier.dropped == 0 and receiver.messages == []
    receiver.gate.set()

    await notifier.run_until_idle()
    assert [m["message"][:22] for m in receiver.messages] == [
        "Cached 1 file (246.0 M",
        "Cached 500 files (123.",
    ]


async def test_a_hung_service_times_out(
    store: ConfigStore, bus: EventBus, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.gate.clear()  # the service takes the request and never answers
    configure(store, [receiver.url()], window_s=0)
    impatient = Notifier(store, bus, timeout_s=0.3)
    await impatient.start()
    try:
        bus.publish(events.OPERATION_COMPLETE, **cached(1))
        async with asyncio.timeout(10):
            await impatient.run_until_idle()
        assert receiver.requests == 1 and receiver.messages == []  # given up, not answered
    finally:
        await impatient.close()
        receiver.gate.set()
    assert "Notification to URL #1 (json) failed: no answer within 0.3 s" in caplog.text
    await receiver.wait_for(1)  # let the abandoned request finish before the server stops


async def test_a_batch_still_waiting_is_sent_at_shutdown(
    store: ConfigStore, bus: EventBus, receiver: Receiver
) -> None:
    configure(store, [receiver.url()], window_s=60)
    stopping = Notifier(store, bus)
    await stopping.start()
    bus.publish(events.OPERATION_COMPLETE, **cached(1))
    await stopping.close()  # at once: the event may not have left the queue yet
    assert [m["message"] for m in receiver.messages] == ["Cached 1 file (246.0 MB): Show S01E01"]


def test_compose_leaves_out_what_is_switched_off() -> None:
    batch = [Event(events.OPERATION_COMPLETE, cached(1))]
    assert compose(batch, NotificationEvents(caching_summary=False)) is None
    message = compose(batch, NotificationEvents())
    assert message is not None
    assert message.body == "Cached 1 file (246.0 MB): Show S01E01"


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
    assert SECRET not in text and str(receiver.port) not in text
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
    client: TestClient[Any, Any], store: ConfigStore, receiver: Receiver
) -> None:
    configure(store, [receiver.url()], window_s=0.2)
    app = client.app
    assert app is not None
    for n in range(1, 51):
        app[keys.BUS].publish(events.OPERATION_COMPLETE, **cached(n))
    await app[keys.NOTIFIER].run_until_idle()
    assert len(receiver.messages) == 1
    assert receiver.messages[0]["message"].startswith("Cached 50 files (12.3 GB)")
