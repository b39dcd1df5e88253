"""What import lists need of Plex and of the disks: the library by id, a movie's files, a
show's first unwatched episodes for the list's users, and the size of claimed files.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Protocol

from cacherr.config.models import Settings
from cacherr.errors import PathRefused
from cacherr.files.paths import PathResolver
from cacherr.plex.gateway import PlexGateway
from cacherr.plex.library import ItemRef, Library, show_order
from cacherr.plex.users import PlexUser, UserDirectory
from cacherr.sources.lists.matcher import LocalIndex, load_local

log = logging.getLogger(__name__)

SizeLookup = Callable[[Sequence[str]], Awaitable[Mapping[str, int]]]


class PlexSide(Protocol):
    """The Plex calls of the lists (a protocol so the service does not care how)."""

    async def local_index(self) -> LocalIndex:
        """The library's movies and shows by id."""
        ...

    async def item(self, rating_key: str) -> ItemRef:
        """One movie with its files."""
        ...

    async def unwatched_episodes(
        self, show_key: str, usernames: Sequence[str], count: int
    ) -> list[ItemRef]:
        """A show's first `count` episodes unwatched by any of `usernames` (owner if empty)."""
        ...


class PlexLists:
    """`PlexSide` over the app's gateway, library and user directory."""

    def __init__(
        self,
        gateway: PlexGateway,
        library: Library,
        users: UserDirectory,
        settings: Callable[[], Settings],
    ) -> None:
        self._gateway = gateway
        self._library = library
        self._users = users
        self._settings = settings

    async def local_index(self) -> LocalIndex:
        """The watched sections' movies and shows (one call per section)."""
        return await load_local(self._gateway, self._library, self._settings().plex)

    async def item(self, rating_key: str) -> ItemRef:
        """One movie with its files."""
        return await self._library.item(rating_key)

    async def _people(self, usernames: Sequence[str]) -> list[PlexUser | None]:
        if not usernames:
            return [None]
        wanted = {u.lower() for u in usernames}
        found: list[PlexUser | None] = []
        for user in await self._users.all():
            if {user.username.lower(), user.title.lower()} & wanted:
                if self._users.policy(user).lists:
                    found.append(user)
                else:
                    log.info("Import lists are off for %s; their watch state is not used",
                             user.name)  # fmt: skip
        return found or [None]  # nobody usable: the owner's view

    async def unwatched_episodes(
        self, show_key: str, usernames: Sequence[str], count: int
    ) -> list[ItemRef]:
        """The union of each user's first `count` unwatched episodes, in show order."""
        if count <= 0:
            return []
        chosen: dict[str, ItemRef] = {}
        for person in await self._people(usernames):
            if person is None or person.kind == "main":
                episodes = await self._library.episodes(show_key)
            else:
                episodes = await self._users.call_as(
                    person, lambda tok: self._library.episodes(show_key, token=tok)
                )
            for ep in [e for e in episodes if not e.watched][:count]:
                chosen.setdefault(ep.rating_key, ep)
        return show_order(chosen.values(), include_specials=True)


def size_lookup(settings: Callable[[], Settings]) -> SizeLookup:
    """Sizes of files by their Plex path: the cache copy if there is one, else the array's.

    Paths outside every mapping (or gone) are left out. The stats run off the event loop.
    """

    def stat_all(paths: Sequence[str]) -> dict[str, int]:
        resolver = PathResolver(settings().paths.mappings)
        sizes: dict[str, int] = {}
        for path in paths:
            try:
                where = resolver.from_plex(path)
            except PathRefused:
                continue
            for candidate in (where.cache_path, where.array_path):
                try:
                    sizes[path] = os.stat(candidate).st_size
                    break
                except OSError:
                    continue
        return sizes

    async def lookup(paths: Sequence[str]) -> Mapping[str, int]:
        return await asyncio.to_thread(stat_all, list(paths))

    return lookup
