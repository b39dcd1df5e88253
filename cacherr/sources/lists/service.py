"""Import lists at run time: refresh (fetch → match → store → claims), the claims the sweep
asks for, and the scheduler that refreshes each list every `refresh_interval_s`.

A failed fetch or a failed match only marks the list `failed` with the reason: its stored
entries and its claims stay as they were, so nothing leaves the cache because a provider
was down. Claims are held by `list:<name>` with source `list`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Final

from cacherr.claims import Change, Claim, ClaimStore
from cacherr.config.models import ImportList, Settings
from cacherr.errors import NotFound
from cacherr.plex.errors import PlexError
from cacherr.sources.lists.build import HOLDER_PREFIX, FillRoom, claims_for, holder
from cacherr.sources.lists.http import Fetcher
from cacherr.sources.lists.model import ListFetchError
from cacherr.sources.lists.plexside import PlexSide, SizeLookup
from cacherr.sources.lists.providers import fetch_entries
from cacherr.sources.lists.store import ListRepository, ListStatus
from cacherr.tasks import cancel_and_wait

log = logging.getLogger(__name__)

DEFAULT_TICK_S: Final = 30.0
# A failed list is tried again this soon (a provider that was down is often back by then).
FAILED_RETRY_S: Final = 900


class ListService:
    """Refreshes lists and turns them into claims."""

    def __init__(
        self,
        repo: ListRepository,
        claims: ClaimStore,
        fetcher: Fetcher,
        plex: PlexSide,
        settings: Callable[[], Settings],
        *,
        sizes: SizeLookup | None = None,
        room: Callable[[], FillRoom | None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.repo = repo
        self._claims = claims
        self._fetcher = fetcher
        self._plex = plex
        self._settings = settings
        self._sizes = sizes
        self._room = room
        self._clock = clock
        self._locks: dict[str, asyncio.Lock] = {}
        # Called after every claims write, so a refresh takes effect at once (the reactor
        # plans the touched files); unset, the next sweep plans them.
        self.on_claims: Callable[[Change], Awaitable[object]] | None = None
        # Told each list's state after every refresh (the page shows it live).
        self.on_status: Callable[[str, ListStatus], object] | None = None

    def definitions(self) -> list[ImportList]:
        """The configured lists."""
        return list(self._settings().lists.definitions)

    def definition(self, name: str) -> ImportList:
        """A configured list by name, or NotFound."""
        for each in self.definitions():
            if each.name == name:
                return each
        raise NotFound(f"there is no import list named {name!r}")

    def _today(self) -> dt.date:
        return dt.datetime.fromtimestamp(self._clock(), dt.UTC).date()

    async def refresh(self, name: str) -> ListStatus:
        """Fetch, match and store one list now, then update its claims."""
        status = await self._refresh(name)
        if self.on_status is not None:
            self.on_status(name, status)
        return status

    async def _refresh(self, name: str) -> ListStatus:
        definition = self.definition(name)
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            tried_at = self._clock()
            settings = self._settings()
            try:
                result = await fetch_entries(self._fetcher, settings.lists, definition)
            except ListFetchError as exc:
                log.warning("Import list %s failed: %s", name, exc.message)
                await self.repo.record_failure(name, exc.message, at=tried_at)
                return await self.repo.status(name)
            try:
                index = await self._plex.local_index()
            except PlexError as exc:
                reason = f"read {len(result.entries)} entries but Plex cannot match them: "
                log.warning("Import list %s not matched: %s", name, exc.message)
                await self.repo.record_failure(name, reason + exc.message, at=tried_at)
                return await self.repo.status(name)
            fallback = definition.title_fallback
            matched = [(e, index.match(e, title_fallback=fallback)) for e in result.entries]
            note = f"only the first {len(result.entries)} entries were read ({result.note})"
            await self.repo.record_success(
                name, matched, truncated=result.truncated, at=tried_at, note=note
            )
            log.info("Import list %s: %d entries, %d in the library", name, len(matched),
                     sum(m.state == "matched" for _, m in matched))  # fmt: skip
            await self._apply(definition, self._room() if self._room else None)
        return await self.repo.status(name)

    async def _list_claims(self, definition: ImportList, room: FillRoom | None) -> list[Claim]:
        items = await self.repo.items(definition.name, matched_only=True)
        return await claims_for(definition, items, self._plex, today=self._today(),
                                sizes=self._sizes, room=room)  # fmt: skip

    async def _apply(self, definition: ImportList, room: FillRoom | None) -> bool:
        try:
            found = await self._list_claims(definition, room)
        except PlexError as exc:
            log.warning("Claims of list %s kept as they were: %s", definition.name, exc.message)
            return False
        await self._replace(holder(definition.name), found)
        return True

    async def _replace(self, holder_id: str, claims: list[Claim]) -> None:
        change = await self._claims.replace("list", holder_id, claims)
        if self.on_claims is not None:
            await self.on_claims(change)

    async def claims_by_holder(self, room: FillRoom | None = None) -> dict[str, list[Claim]]:
        """Each list holder's whole claim set, for the sweep to replace (source `list`).

        A list whose claims cannot be built now (Plex trouble) is left out, so its claims in
        force stay; lists deleted or disabled map to an empty set (released).
        """
        out: dict[str, list[Claim]] = {}
        for definition in self.definitions():
            if not definition.enabled:
                continue
            try:
                out[holder(definition.name)] = await self._list_claims(definition, room)
            except PlexError as exc:
                log.warning("Claims of list %s kept as they were: %s", definition.name,
                            exc.message)  # fmt: skip
        enabled = {holder(d.name) for d in self.definitions() if d.enabled}
        for claim in await self._claims.for_source("list"):
            if claim.user_id.startswith(HOLDER_PREFIX) and claim.user_id not in enabled:
                out[claim.user_id] = []
        return out

    async def release_stale(self) -> None:
        """Release the claims of lists that were deleted or disabled."""
        wanted = {holder(d.name) for d in self.definitions() if d.enabled}
        stale = {c.user_id for c in await self._claims.for_source("list")} - wanted
        for user_id in sorted(stale):
            if user_id.startswith(HOLDER_PREFIX):
                await self._replace(user_id, [])

    async def forget(self, name: str) -> None:
        """Drop a list's stored entries and release its claims (after it was deleted)."""
        async with self._locks.setdefault(name, asyncio.Lock()):  # not under a refresh
            await self._replace(holder(name), [])
            await self.repo.delete(name)
        self._locks.pop(name, None)

    async def statuses(self) -> dict[str, ListStatus]:
        """Every list's status by name (never fetched: `new`)."""
        stored = await self.repo.statuses()
        return {d.name: stored.get(d.name) or ListStatus(d.name) for d in self.definitions()}

    async def due(self) -> list[str]:
        """Enabled lists whose refresh interval has passed since the last try.

        A failed list is tried again after `FAILED_RETRY_S` (or its interval, if shorter). The
        time of the last try is stored, so a restart changes nothing about when that is.
        """
        now, stored = self._clock(), await self.repo.statuses()
        out = []
        for definition in self.definitions():
            if not definition.enabled:
                continue
            status = stored.get(definition.name)
            if status is None or status.attempted_at is None:
                out.append(definition.name)
                continue
            interval = definition.refresh_interval_s
            if status.state == "failed":
                interval = min(interval, FAILED_RETRY_S)
            if now - status.attempted_at >= interval:
                out.append(definition.name)
        return out


class ListScheduler:
    """Refreshes due lists every `tick_s` and keeps claims in step with the definitions."""

    def __init__(self, service: ListService, *, tick_s: float = DEFAULT_TICK_S) -> None:
        self._service = service
        self._tick_s = tick_s
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._requested: set[str] = set()
        self._task: asyncio.Task[None] | None = None

    def request(self, name: str) -> None:
        """Refresh `name` at the next turn, now (after a list was created or edited)."""
        self._requested.add(name)
        self._wake.set()

    async def run_once(self) -> list[str]:
        """Refresh every due or requested list (one after the other), release removed ones."""
        requested, self._requested = sorted(self._requested), set()
        names = list(dict.fromkeys([*requested, *await self._service.due()]))
        for name in names:
            try:
                await self._service.refresh(name)
            except NotFound:
                continue  # removed while we were busy
        known = {d.name for d in self._service.definitions()}
        for name in set(await self._service.repo.statuses()) - known:
            await self._service.forget(name)
        await self._service.release_stale()
        return names

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await self.run_once()
            except Exception:
                log.exception("Import list refresh failed")
            if self._stop.is_set():
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._tick_s)
            self._wake.clear()

    async def start(self) -> None:
        """Start refreshing in the background."""
        self._stop.clear()
        self._task = asyncio.create_task(self._run(), name="import-lists")

    async def close(self) -> None:
        """Stop and wait for the loop to end."""
        self._stop.set()
        self._wake.set()
        await cancel_and_wait(self._task)
        self._task = None
