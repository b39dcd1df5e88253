"""The notifier: a long-running task that turns bus events into batched apprise messages.

It has its own bounded subscription, so a slow or dead notification service never holds
up a publisher (the bus drops the notifier's oldest events instead). Settings are read
when they are needed, so an edit to `notifications` applies from the next event on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from cacherr import events
from cacherr.config.store import ConfigStore
from cacherr.events import Event, EventBus, Subscription
from cacherr.notify.digest import (
    NOTIFIED_TYPES,
    Message,
    PlexTransitions,
    categorise,
    compose,
    enabled,
)
from cacherr.notify.sender import AppriseSender, Delivery
from cacherr.tasks import cancel_and_wait

log = logging.getLogger(__name__)

TEST_MESSAGE = Message(
    title="Cacherr: test notification",
    body="This is a test notification from Cacherr. If you can read it, notifications work.",
    level="info",
)


class Notifier:
    """Batches events of the enabled kinds and sends each batch as one message.

    `start()` / `close()` bracket its life (see `cacherr.app`); `run_until_idle()` lets
    a test wait until every published event has been sent or dropped.
    """

    def __init__(
        self,
        store: ConfigStore,
        bus: EventBus,
        *,
        timeout_s: float = 30.0,
        queue_size: int = 1000,
        close_timeout_s: float = 5.0,
    ) -> None:
        self._store = store
        self._bus = bus
        self._queue_size = queue_size
        self._close_timeout_s = close_timeout_s
        self.sender = AppriseSender(timeout_s=timeout_s)
        self._plex = PlexTransitions()
        self._pending: list[Event] = []
        self._sub: Subscription | None = None
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self.sent_messages = 0

    @property
    def dropped(self) -> int:
        """Events lost because the notifier's queue overflowed."""
        return self._sub.dropped if self._sub is not None else 0

    async def start(self) -> None:
        """Subscribe and begin the batching loop."""
        self._sub = self._bus.subscribe(set(NOTIFIED_TYPES), maxsize=self._queue_size)
        self._task = asyncio.create_task(self._run(self._sub), name="notifier")

    async def close(self) -> None:
        """Stop; a batch still waiting for its window is sent, within a short timeout."""
        if self._sub is not None:
            self._sub.close()
        await cancel_and_wait(self._task)
        if self._sub is not None:
            self._take_waiting(self._sub)  # published before close: part of the last batch
        if self._pending:
            try:
                await asyncio.wait_for(self._deliver(), self._close_timeout_s)
            except TimeoutError:
                log.warning("Notifications still pending at shutdown were not sent")
        self.sender.close()

    async def run_until_idle(self) -> None:
        """Wait until every event published so far is sent (or filtered out)."""
        while True:
            await asyncio.sleep(0)  # let the loop take what was just published
            await self._idle.wait()
            await asyncio.sleep(0)
            if self._idle.is_set():
                return

    async def send_test(self, urls: Sequence[str] | None = None) -> list[Delivery]:
        """Send a test message to `urls`, or else to the configured URLs."""
        if urls is None:
            urls = self._configured_urls()
        return await self.sender.send(urls, TEST_MESSAGE)

    def _configured_urls(self) -> list[str]:
        return [u.get_secret_value() for u in self._store.current.notifications.urls]

    def _accept(self, event: Event) -> bool:
        settings = self._store.current.notifications
        category = categorise(event)
        if not settings.urls or category is None or not enabled(category, settings.events):
            return False
        return not isinstance(event, events.PlexState) or self._plex.accept(event)

    async def _next(self, sub: Subscription) -> Event:
        while True:
            try:
                event = sub.get_nowait()
            except asyncio.QueueEmpty:
                self._idle.set()
                event = await sub.get()
            self._idle.clear()
            if self._accept(event):
                return event

    async def _run(self, sub: Subscription) -> None:
        while True:
            self._pending.append(await self._next(sub))
            window_s = self._store.current.notifications.batch_window_s
            # A fixed window from the first event: a steady trickle cannot delay a
            # message forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(window_s):
                    while True:
                        event = await sub.get()
                        if self._accept(event):
                            self._pending.append(event)
            self._take_waiting(sub)
            await self._deliver()

    def _take_waiting(self, sub: Subscription) -> None:
        while True:
            try:
                event = sub.get_nowait()
            except asyncio.QueueEmpty:
                return
            if self._accept(event):
                self._pending.append(event)

    async def _deliver(self) -> None:
        batch, self._pending = self._pending, []
        try:
            settings = self._store.current.notifications
            message = compose(batch, settings.events)
            urls = self._configured_urls()
            if message is None or not urls:
                return
            deliveries = await self.sender.send(urls, message)
        except Exception:  # the loop must outlive any surprise in one batch
            log.exception("Could not send a notification of %d events", len(batch))
            return
        self.sent_messages += 1
        sent = sum(d.ok for d in deliveries)
        log.info(
            "Notification '%s' (%d events) sent to %d of %d services",
            message.title,
            len(batch),
            sent,
            len(deliveries),
        )
