"""Resolution: a ratingKey becomes plain `ItemRef`s with their files; shows become episodes.

The planner never touches plexapi: everything here comes back as typed dataclasses. Library
listings are asked in pages of 100 (as plexapi does), so a big section is never one huge
answer. A show's
episodes come from ONE `allLeaves` call and are kept for a short while (`ttl_s`), and
concurrent asks for the same show share that one call, so a burst of playback events
costs one Plex call per show. `invalidate()` (on `library.new`) forgets what was kept.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal
from xml.etree.ElementTree import Element

from cacherr.config.models import PlexConfig, Settings
from cacherr.plex.errors import PlexNotFound
from cacherr.plex.gateway import PlexGateway

# "other": what Cacherr never caches (trailers and extras are `clip`, music is `track`).
ItemType = Literal["movie", "episode", "show", "season", "other"]
_KNOWN_TYPES = ("movie", "episode", "show", "season")
PAGE_SIZE = 100  # as plexapi (X_PLEX_CONTAINER_SIZE): a big section comes in pages
# A ratingKey goes into the path of an owner-token request, so only plain ASCII digits pass:
# `102/../../:/scrobble?key=5` would otherwise reach another Plex endpoint (and `\d` would
# take other scripts' digits, which Plex reads as a different key than Cacherr stores).
_RATING_KEY = re.compile(r"[0-9]{1,20}")
SectionType = Literal["movie", "show"]


@dataclass(frozen=True)
class ItemRef:
    """A Plex item reduced to what Cacherr needs; `files` are the paths as Plex reports them.

    `view_count`, `view_offset_ms` and `last_viewed_at` are the watch state of the token
    that fetched the item.
    """

    rating_key: str
    type: ItemType
    title: str
    show_key: str | None = None
    show_title: str | None = None
    season: int | None = None
    episode: int | None = None
    duration_ms: int = 0
    files: list[str] = field(default_factory=list)
    guids: list[str] = field(default_factory=list)
    section_id: int | None = None
    view_count: int = 0
    view_offset_ms: int = 0
    last_viewed_at: float | None = None

    @property
    def watched(self) -> bool:
        """Watched at least once and not restarted since."""
        return self.view_count > 0 and self.view_offset_ms == 0


@dataclass(frozen=True)
class Section:
    """A library section."""

    id: int
    title: str
    type: str
    hidden: bool = False


def _int(value: str | None, default: int = 0) -> int:
    try:
        return int(value) if value not in (None, "") else default
    except ValueError:
        return default


def _chosen_media(elem: Element, cfg: PlexConfig) -> list[Element]:
    media = elem.findall("Media")
    if cfg.versions == "all" or len(media) < 2:
        return media
    wanted = cfg.preferred_resolution.lower()
    preferred = [m for m in media if (m.get("videoResolution") or "").lower() == wanted]
    return preferred or media[:1]  # Plex's own first choice when none has that resolution


def item_from_xml(elem: Element, cfg: PlexConfig) -> ItemRef:
    """An `ItemRef` from one `Video`/`Directory` element of a Plex answer."""
    a = elem.attrib
    raw = a.get("type", "")
    kind: ItemType = raw if raw in _KNOWN_TYPES else "other"  # type: ignore[assignment]
    files = [
        part.get("file", "")
        for media in _chosen_media(elem, cfg)
        for part in media.findall("Part")
        if part.get("file")
    ]
    guids = [a["guid"]] if a.get("guid") else []
    guids += [g.get("id", "") for g in elem.findall("Guid") if g.get("id")]
    is_episode = kind == "episode"
    viewed = a.get("lastViewedAt")
    return ItemRef(
        rating_key=a.get("ratingKey", ""),
        type=kind,
        title=a.get("title", ""),
        show_key=a.get("grandparentRatingKey") if is_episode else None,
        show_title=a.get("grandparentTitle") if is_episode else None,
        season=_int(a.get("parentIndex")) if is_episode else None,
        episode=_int(a.get("index")) if is_episode else None,
        duration_ms=_int(a.get("duration")),
        files=files,
        guids=guids,
        section_id=_int(a.get("librarySectionID")) or None,
        view_count=_int(a.get("viewCount")),
        view_offset_ms=_int(a.get("viewOffset")),
        last_viewed_at=float(viewed) if viewed else None,
    )


def items_from_xml(
    container: Element, cfg: PlexConfig, *, keep_other: bool = False
) -> list[ItemRef]:
    """Every movie, episode, show and season of a `MediaContainer`.

    Clips (trailers, extras), music tracks and anything else are left out, unless
    `keep_other` (then they come back as type "other", for the caller to ignore by name).
    """
    section = container.get("librarySectionID")
    out = []
    for elem in container:
        if elem.tag not in ("Video", "Directory", "Track") or not elem.get("ratingKey"):
            continue
        if section and not elem.get("librarySectionID"):
            elem.set("librarySectionID", section)
        item = item_from_xml(elem, cfg)
        if item.type != "other" or keep_other:
            out.append(item)
    return out


def show_order(episodes: Iterable[ItemRef], include_specials: bool) -> list[ItemRef]:
    """Episodes in show order across seasons; specials (season 0) only when asked for."""
    kept = [e for e in episodes if include_specials or (e.season or 0) > 0]
    return sorted(kept, key=lambda e: (e.season or 0, e.episode or 0))


def plain_key(rating_key: str) -> str:
    """`rating_key` when it is a plain Plex ratingKey (ASCII digits), else `PlexNotFound`."""
    if not _RATING_KEY.fullmatch(rating_key):
        raise PlexNotFound(f"{rating_key[:40]!r} is not a Plex ratingKey")
    return rating_key


def after(episodes: list[ItemRef], rating_key: str) -> list[ItemRef]:
    """The episodes that follow `rating_key` (none when it is not among them)."""
    keys = [e.rating_key for e in episodes]
    return episodes[keys.index(rating_key) + 1 :] if rating_key in keys else []


def cover_minutes(episodes: Iterable[ItemRef], minutes: int) -> list[ItemRef]:
    """The shortest prefix of `episodes` whose runtime reaches `minutes`."""
    out, total_ms = [], 0
    for ep in episodes:
        if total_ms >= minutes * 60_000:
            break
        out.append(ep)
        total_ms += ep.duration_ms
    return out


class Library:
    """Resolution with a short-lived cache; every answer is a plain dataclass."""

    def __init__(
        self,
        gateway: PlexGateway,
        settings: Callable[[], Settings],
        *,
        ttl_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._gateway = gateway
        self._settings = settings
        self._ttl_s = ttl_s
        self._clock = clock
        self._cache: dict[tuple[str, str], tuple[float, Any]] = {}
        self._inflight: dict[tuple[str, str], asyncio.Future[Any]] = {}
        self._show_of: dict[str, str] = {}

    def invalidate(self, show_key: str | None = None) -> None:
        """Forget cached answers: all of them, or one show's (call on `library.new`)."""
        if show_key is None:
            self._cache.clear()
            self._show_of.clear()
        else:
            self._cache.pop(("leaves", show_key), None)

    async def _cached(self, kind: str, key: str, load: Callable[[], Any]) -> Any:
        hit = self._cache.get((kind, key))
        if hit is not None and self._clock() - hit[0] < self._ttl_s:
            return hit[1]
        running = self._inflight.get((kind, key))
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._inflight[(kind, key)] = future
        try:
            value = await load()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning without waiters
            raise
        finally:
            self._inflight.pop((kind, key), None)
        self._cache[(kind, key)] = (self._clock(), value)
        future.set_result(value)
        return value

    async def listing(
        self, key: str, *, token: str | None = None, params: dict[str, Any] | None = None
    ) -> list[ItemRef]:
        """Every item of a library listing (`/all`, `allLeaves`), asked in pages of 100."""
        cfg = self._settings().plex
        out: list[ItemRef] = []
        start = 0
        while True:
            window = {"X-Plex-Container-Start": start, "X-Plex-Container-Size": PAGE_SIZE}
            data = await self._gateway.query(key, token=token, params={**(params or {}), **window})
            page = [e for e in data if e.get("ratingKey")]
            out += items_from_xml(data, cfg)
            start += len(page)
            total = _int(data.get("totalSize"), start)
            if len(page) < PAGE_SIZE or start >= total:
                return out

    async def sections(self) -> list[Section]:
        """The owner's movie and show sections, filtered by `plex.sections` when set."""

        async def load() -> list[Section]:
            data = await self._gateway.query("/library/sections")
            return [
                Section(_int(d.get("key")), d.get("title", ""), d.get("type", ""),
                        d.get("hidden") in ("1", "2"))
                for d in data if d.tag == "Directory"
            ]  # fmt: skip

        found: list[Section] = await self._cached("sections", "", load)
        wanted = set(self._settings().plex.sections)
        return [
            s for s in found
            if s.type in ("movie", "show") and (not wanted or {str(s.id), s.title} & wanted)
        ]  # fmt: skip

    async def item(self, rating_key: str, *, token: str | None = None) -> ItemRef:
        """One item with its files (`/library/metadata/{rk}`), as `token`'s user if given.

        A trailer, extra or music track comes back as type "other" (never cached).
        """
        data = await self._gateway.query(f"/library/metadata/{plain_key(rating_key)}", token=token)
        items = items_from_xml(data, self._settings().plex, keep_other=True)
        if not items:
            raise PlexNotFound(f"Plex has no item {rating_key}")
        return items[0]

    async def episodes(self, show_key: str, *, token: str | None = None) -> list[ItemRef]:
        """A show's episodes in order (one `allLeaves` call, cached; per token when given).

        Cached answers are shared by everyone asking with the owner's token; a user's
        token (for their watch state) is never cached.
        """
        cfg = self._settings().plex

        plain_key(show_key)

        async def load() -> list[ItemRef]:
            return await self.listing(f"/library/metadata/{show_key}/allLeaves", token=token)

        if token is None:
            leaves: list[ItemRef] = await self._cached("leaves", show_key, load)
        else:
            leaves = await load()
        for ep in leaves:
            self._show_of[ep.rating_key] = show_key
        return show_order(leaves, cfg.include_specials)

    async def show_of(self, rating_key: str) -> str | None:
        """The show an episode belongs to (from cache, else one metadata call)."""
        if rating_key in self._show_of:
            return self._show_of[rating_key]
        item = await self.item(rating_key)
        return item.show_key

    async def following(self, rating_key: str, *, show_key: str | None = None) -> list[ItemRef]:
        """Every episode after this one in show order across seasons, watched or not."""
        show_key = show_key or await self.show_of(rating_key)
        if show_key is None:
            return []
        return after(await self.episodes(show_key), rating_key)

    async def next_episodes(
        self, rating_key: str, count: int, *, show_key: str | None = None
    ) -> list[ItemRef]:
        """The `count` episodes after this one in show order across seasons, watched or not."""
        if count <= 0:
            return []
        return (await self.following(rating_key, show_key=show_key))[:count]
