"""Pinned media: a movie, show, season or episode kept on the cache for good, never evicted.

A pin is resolved to its files through the library (a show or season: all its episodes),
stored as `pinned` claims under the pin's own holder, planned and copied at once. The sweep
resolves every pin again, so a pinned show's new episodes join it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from cacherr.claims import Change, Claim, Pin, claim_priority, pin_holder
from cacherr.config.models import Settings
from cacherr.errors import BadRequest, NotFound
from cacherr.plex.gateway import PlexGateway
from cacherr.plex.library import ItemRef, Library, show_order
from cacherr.reactor.engine import CacheEngine
from cacherr.reactor.window import describe

log = logging.getLogger(__name__)

PIN_KINDS = ("movie", "show", "season", "episode")


class Pins:
    """Add, remove and list pins; `resolve` gives the sweep a pin's claims."""

    def __init__(
        self,
        engine: CacheEngine,
        library: Library,
        gateway: PlexGateway,
        settings: Callable[[], Settings],
    ) -> None:
        self._engine = engine
        self._library = library
        self._gateway = gateway
        self._settings = settings

    async def items(self, item: ItemRef) -> list[ItemRef]:
        """The playable items a pin of `item` stands for."""
        if item.type in ("movie", "episode"):
            return [item]
        if item.type == "show":
            return await self._library.episodes(item.rating_key)
        leaves = await self._library.listing(f"/library/metadata/{item.rating_key}/allLeaves")
        return show_order(leaves, include_specials=True)

    async def resolve(self, rating_key: str) -> tuple[ItemRef, list[Claim]]:
        """The item and the `pinned` claims of its files (sidecars included)."""
        item = await self._library.item(rating_key)
        if item.type not in PIN_KINDS:
            raise BadRequest(f"item {rating_key} is a {item.type}; pin a movie, show, season "
                             "or episode")  # fmt: skip
        leaves = await self.items(item)
        found = await self._engine.survey([f for leaf in leaves for f in leaf.files])
        reason = f"pinned {describe(item)}"
        priority = claim_priority("pinned")
        claims = [
            Claim(
                plex_path=path,
                source="pinned",
                user_id=pin_holder(rating_key),
                priority=priority,
                reason=reason,
                rating_key=leaf.rating_key,
                show_key=leaf.show_key,
            )
            for leaf in leaves
            for path in found.with_sidecars(leaf.files)
        ]
        return item, list({c.plex_path: c for c in claims}.values())

    async def add(self, rating_key: str) -> dict[str, Any]:
        """Pin an item, claim its files and start copying them."""
        item, claims = await self.resolve(rating_key)
        store, now = self._engine.store, self._engine.clock()
        if item.type == "other":  # refused by resolve() already; this narrows the type
            raise BadRequest(f"item {rating_key} cannot be pinned")
        pin = await store.pin(rating_key, item.type, _title(item), now=now)
        change = await store.set_pin_files(rating_key, claims, now=now)
        _, submitted = await self._engine.commit(change, [c.plex_path for c in claims])
        log.info("Pinned %s (%d files)", pin.title, len(claims))
        return {**_pin_dict(pin, len(claims)), **submitted.as_dict()}

    async def remove(self, rating_key: str) -> dict[str, Any]:
        """Unpin: its files are no longer held and go back after their retention."""
        pins = {p.rating_key: p for p in await self._engine.store.pins()}
        if rating_key not in pins:
            raise NotFound(f"item {rating_key} is not pinned")
        change = await self._engine.store.unpin(rating_key, now=self._engine.clock())
        await self._engine.commit(change, change.removed)
        return {**_pin_dict(pins[rating_key], 0), "released": len(change.released)}

    async def list(self) -> list[dict[str, Any]]:
        """Every pin with the number of files it holds."""
        holders: dict[str, int] = {}
        for claim in await self._engine.store.for_source("pinned"):
            holders[claim.user_id] = holders.get(claim.user_id, 0) + 1
        return [_pin_dict(p, holders.get(p.holder, 0)) for p in await self._engine.store.pins()]

    async def refresh(self, pin: Pin) -> Change:
        """Resolve a pin again (a pinned show's new episodes) and store its claims."""
        _, claims = await self.resolve(pin.rating_key)
        return await self._engine.store.set_pin_files(
            pin.rating_key, claims, now=self._engine.clock()
        )


def _title(item: ItemRef) -> str:
    if item.type == "episode":
        return describe(item)
    return item.title


def _pin_dict(pin: Pin, files: int) -> dict[str, Any]:
    return {
        "rating_key": pin.rating_key,
        "kind": pin.kind,
        "title": pin.title,
        "created_at": pin.created_at,
        "files": files,
    }
