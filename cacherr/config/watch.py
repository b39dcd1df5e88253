"""Hot reload: watch the config folder, rebuild, validate, swap — or keep the old config.

Editors replace files on save, so the folder is watched and changes are filtered by name.
Docker bind mounts sometimes deliver no inotify events: `general.config_force_polling`.
The file is compared as bytes: an edit that is not UTF-8 is reported like any broken edit
(the store's reload says why) and the next good edit is applied.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import watchfiles

from cacherr import events
from cacherr.config.store import ConfigStore
from cacherr.errors import ConfigError
from cacherr.events import EventBus
from cacherr.tasks import cancel_and_wait

log = logging.getLogger(__name__)


class ConfigWatcher:
    """A small long-running task: `start()`, `close()`."""

    def __init__(self, store: ConfigStore, bus: EventBus) -> None:
        self._store = store
        self._bus = bus
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_bytes: bytes | None = None

    async def start(self) -> None:
        """Begin watching."""
        self._last_bytes = await asyncio.to_thread(self._read_bytes)
        self._task = asyncio.create_task(self._run(), name="config-watcher")

    async def close(self) -> None:
        """Stop watching."""
        self._stop.set()
        await cancel_and_wait(self._task)

    def _read_bytes(self) -> bytes | None:
        try:
            return self._store.path.read_bytes()
        except OSError:
            return None

    async def _run(self) -> None:
        general = self._store.current.general
        if general.config_force_polling:
            # Reading and comparing a small file is cheap and sees every change, where
            # mtime-based polling misses two saves within the file system's granularity.
            while not self._stop.is_set():
                await asyncio.sleep(general.config_poll_interval_ms / 1000)
                await self.check_now()
            return
        target = self._store.path
        async for _changes in watchfiles.awatch(
            self._store.config_dir,
            watch_filter=lambda _change, path: Path(path) == target,
            stop_event=self._stop,
            debounce=200,
            step=50,
            recursive=False,
        ):
            await self.check_now()

    async def check_now(self) -> None:
        """Reload if the file's content changed (a mere touch is skipped)."""
        raw = await asyncio.to_thread(self._read_bytes)
        if raw is None or raw == self._last_bytes:
            return
        self._last_bytes = raw
        try:
            await asyncio.to_thread(self._store.reload)
        except ConfigError as exc:
            log.error("Configuration change ignored, the running configuration stays: %s", exc)
            self._bus.publish(
                events.ConfigError(
                    message="The edit to cacherr.json was not applied",
                    problems=tuple(str(p) for p in exc.problems),
                )
            )
            return
        except Exception:  # whatever it was, the watcher keeps watching
            log.exception("Configuration change ignored: reloading it failed")
            return
        log.info("Configuration reloaded from %s", self._store.path)
        self._bus.publish(events.ConfigReloaded(path=str(self._store.path)))
