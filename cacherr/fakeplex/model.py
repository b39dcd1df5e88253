"""Plain dataclasses of Cacherr's simulated Plex world.

Owns the shape of the data only; building and mutating it is :mod:`.world`'s job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

LibraryType = Literal["movie", "show"]
UserKind = Literal["owner", "home", "shared"]
SessionState = Literal["playing", "paused", "buffering"]


@dataclass
class Part:
    """One file of a media version; ``file`` is the path Plex reports (under plex_root)."""

    id: int
    file: str
    size: int
    container: str = "mkv"
    subtitle_files: list[str] = field(default_factory=list)


@dataclass
class Media:
    """One version of an item (Plex ``Media`` element) with one or more parts."""

    id: int
    parts: list[Part]
    video_resolution: str | None = "1080"
    container: str = "mkv"


@dataclass
class Library:
    """A library section."""

    id: int
    title: str
    type: LibraryType
    folder: str
    hidden_from_home: bool = False
    uuid: str = ""
    answer_delay_ms: int = 0  # a big section's listing can be slow to answer


@dataclass
class Episode:
    """An episode; ``parent_index`` is the season number (0 = specials)."""

    rating_key: int
    index: int
    parent_index: int
    title: str
    duration_ms: int
    added_at: int
    guids: list[str]
    plex_guid: str
    media: list[Media]
    season: Season


@dataclass
class Season:
    """A season of a show; index 0 holds the specials."""

    rating_key: int
    index: int
    plex_guid: str
    added_at: int
    show: Show
    episodes: list[Episode] = field(default_factory=list)

    @property
    def title(self) -> str:
        """Plex's display title of the season."""
        return "Specials" if self.index == 0 else f"Season {self.index}"


@dataclass
class Show:
    """A TV show with its seasons."""

    rating_key: int
    title: str
    year: int | None
    added_at: int
    guids: list[str]
    plex_guid: str
    library: Library
    folder: str
    seasons: list[Season] = field(default_factory=list)

    def episodes(self) -> list[Episode]:
        """All episodes in season order, specials (season 0) first like Plex's ``allLeaves``."""
        ordered = sorted(self.seasons, key=lambda s: s.index)
        return [ep for season in ordered for ep in season.episodes]


@dataclass
class Movie:
    """A movie."""

    rating_key: int
    title: str
    year: int | None
    duration_ms: int
    added_at: int
    guids: list[str]
    plex_guid: str
    media: list[Media]
    library: Library


@dataclass
class Extra:
    """What a movie/TV library answers besides movies and episodes: a trailer or other extra
    (Plex type ``clip``, a ``Video``) or a music track (``track``, a ``Track`` element).
    Never listed in a section; ``/library/metadata/{rk}`` and sessions name them."""

    rating_key: int
    type: Literal["clip", "track"]
    title: str
    duration_ms: int
    media: list[Media]
    section_id: int
    parent_key: int | None = None


@dataclass
class CatalogEntry:
    """A title known to plex.tv's catalogue but not (necessarily) in the local library."""

    plex_guid: str
    title: str
    type: LibraryType
    year: int | None = None
    guids: list[str] = field(default_factory=list)


@dataclass
class WatchState:
    """Per user and item: Plex's viewCount / viewOffset / lastViewedAt."""

    view_count: int = 0
    view_offset_ms: int = 0
    last_viewed_at: int | None = None


@dataclass
class User:
    """A Plex account that can use the server: the owner, a Plex Home member or a friend."""

    id: int
    username: str
    title: str
    kind: UserKind
    token: str
    uuid: str
    email: str = ""
    restricted: bool = False
    shared_token_withdrawn: bool = False
    shares_server: bool = True
    library_ids: set[int] | None = None
    states: dict[int, WatchState] = field(default_factory=dict)
    watchlist: list[str] = field(default_factory=list)
    watchlisted_at: dict[str, int] = field(default_factory=dict)
    plextv_id: int | None = None

    @property
    def account_id(self) -> int:
        """The plex.tv account id (webhooks, plex.tv, Tautulli); the server calls the owner 1."""
        return self.plextv_id if self.plextv_id is not None else self.id

    def state(self, rating_key: int) -> WatchState:
        """The user's watch state of an item (created empty on first use)."""
        return self.states.setdefault(rating_key, WatchState())


@dataclass
class Session:
    """A playback session as ``/status/sessions`` reports it."""

    session_key: int
    user: User
    item: Episode | Movie
    view_offset_ms: int
    state: SessionState
    player_title: str
    player_id: str
    local: bool = True
    transcoding: bool = False


Item = Movie | Show | Season | Episode
Playable = Movie | Episode


def leaves(item: Item) -> list[Playable]:
    """The playable items under ``item`` (itself for a movie or episode)."""
    if isinstance(item, Show):
        return list(item.episodes())
    if isinstance(item, Season):
        return list(item.episodes)
    return [item]
