"""The simulated Plex world: libraries, media (with real files), users and sessions.

``World`` is both the builder tests use and the state the HTTP routes read. Every
public method takes ``self.lock`` so a server thread can read while a test mutates.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath

from . import files
from .model import (
    CatalogEntry,
    Episode,
    Item,
    Library,
    LibraryType,
    Media,
    Movie,
    Part,
    Playable,
    Season,
    Session,
    SessionState,
    Show,
    User,
    UserKind,
)

SCROBBLE_FRACTION = 0.9  # Plex marks an item watched once 90 % has been played


class World:
    """Everything the simulated Plex knows.

    Example::

        w = World(array_root=tmp_path / "array", plex_root="/data")
        show = w.add_show("The Expanse", seasons={1: 10, 2: 13})
        heat = w.add_movie("Heat", year=1995)
        alice = w.add_user("alice", kind="home")
        w.watch(alice, show.seasons[0].episodes[0])
    """

    def __init__(
        self,
        array_root: Path | str,
        plex_root: str = "/data",
        *,
        file_bytes: int = 1024,
        create_files: bool = True,
        server_name: str = "Cacherr Simulated PMS",
        owner_name: str = "owner",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.lock = threading.RLock()
        self.array_root = Path(array_root)
        self.plex_root = PurePosixPath(plex_root)
        self.file_bytes = file_bytes
        self.create_files = create_files
        self.server_name = server_name
        self.machine_identifier = files.short_hash("machine", server_name, length=40)
        self.version = "1.41.3.9314-a0bfb8370"
        self.clock = clock
        self.libraries: dict[int, Library] = {}
        self.items: dict[int, Item] = {}
        self.catalog: dict[str, CatalogEntry] = {}
        self.users: list[User] = []
        self.sessions: dict[int, Session] = {}
        self.rss_self_id = files.short_hash("rss-self", server_name, length=32)
        self.rss_friends_id = files.short_hash("rss-friends", server_name, length=32)
        self._rating_keys = itertools.count(100)
        self._media_ids = itertools.count(1)
        self._user_ids = itertools.count(1001)
        self._session_keys = itertools.count(1)
        self._owner = self._new_user(1, owner_name, "owner")

    # ----------------------------------------------------------------- lookups
    @property
    def owner(self) -> User:
        """The server owner (account id 1)."""
        return self._owner

    def now(self) -> int:
        """Current time as Plex's epoch seconds."""
        return int(self.clock())

    def item(self, rating_key: int) -> Item | None:
        """The item with this ratingKey, if any."""
        with self.lock:
            return self.items.get(rating_key)

    def user(self, name: str) -> User:
        """A user by username or title."""
        with self.lock:
            for u in self.users:
                if name in (u.username, u.title):
                    return u
        raise KeyError(name)

    def user_by_token(self, token: str | None) -> User | None:
        """Whose token is this? ``None`` for an unknown or withdrawn token."""
        if not token:
            return None
        with self.lock:
            return next((u for u in self.users if u.token == token), None)

    def library(self, title: str) -> Library:
        """A library by title."""
        with self.lock:
            for lib in self.libraries.values():
                if lib.title == title:
                    return lib
        raise KeyError(title)

    def physical_path(self, part: Part) -> Path:
        """Where the bytes of a part live: array_root + the path relative to plex_root."""
        rel = PurePosixPath(part.file).relative_to(self.plex_root)
        return self.array_root.joinpath(*rel.parts)

    def find_guid(self, guid: str) -> Movie | Show | CatalogEntry | None:
        """A movie or show (or, failing that, a catalogue entry) carrying this guid."""
        with self.lock:
            for it in self.items.values():
                if isinstance(it, Movie | Show) and (guid == it.plex_guid or guid in it.guids):
                    return it
            return self.catalog.get(guid)

    # ----------------------------------------------------------------- builder
    def add_library(
        self,
        title: str,
        type: LibraryType,
        *,
        folder: str | None = None,
        hidden_from_home: bool = False,
    ) -> Library:
        """Create a library section (ids start at 1)."""
        with self.lock:
            lib = Library(
                id=len(self.libraries) + 1,
                title=title,
                type=type,
                folder=folder or files.folder_for_library(title),
                hidden_from_home=hidden_from_home,
                uuid=files.short_hash("library", title, length=36),
            )
            self.libraries[lib.id] = lib
            return lib

    def _library_for(self, title: str, type: LibraryType) -> Library:
        try:
            lib = self.library(title)
        except KeyError:
            return self.add_library(title, type)
        if lib.type != type:
            raise ValueError(f"library {title!r} holds {lib.type}s, not {type}s")
        return lib

    def _make_media(
        self, rel: PurePosixPath, *, size: int | None, parts: int, subtitles: Iterable[str],
        resolution: str | None,
    ) -> Media:
        part_list: list[Part] = []
        for i in range(parts):
            prel = files.with_part_suffix(rel, i, parts)
            nbytes = self.file_bytes if size is None else size
            subs: list[str] = []
            if self.create_files:
                files.write_file(self.array_root, prel, nbytes)
                subs = [
                    str(self.plex_root / files.write_subtitle(self.array_root, prel, lang))
                    for lang in subtitles
                ]
            part_list.append(
                Part(id=next(self._media_ids), file=str(self.plex_root / prel), size=nbytes,
                     container=prel.suffix.lstrip("."), subtitle_files=subs)
            )
        return Media(id=next(self._media_ids), parts=part_list, video_resolution=resolution,
                     container=rel.suffix.lstrip("."))

    def add_movie(
        self,
        title: str,
        year: int | None = None,
        *,
        library: str = "Movies",
        size: int | None = None,
        parts: int = 1,
        versions: int = 1,
        subtitles: Iterable[str] = (),
        resolution: str | None = "1080",
        duration_ms: int = 6_000_000,
        guids: list[str] | None = None,
    ) -> Movie:
        """Add a movie and create its file(s); ``versions`` > 1 adds extra Media elements."""
        with self.lock:
            lib = self._library_for(library, "movie")
            rk = next(self._rating_keys)
            medias = []
            for v in range(versions):
                rel = files.movie_relpath(lib.folder, title, year)
                if v:
                    rel = rel.with_name(f"{rel.stem} - v{v + 1}{rel.suffix}")
                medias.append(self._make_media(rel, size=size, parts=parts, subtitles=subtitles,
                                               resolution=resolution))
            movie = Movie(
                rating_key=rk, title=title, year=year, duration_ms=duration_ms,
                added_at=self.now(), guids=guids if guids is not None else _external_guids(rk),
                plex_guid=f"plex://movie/{files.short_hash('movie', title, year)}",
                media=medias, library=lib,
            )
            self.items[rk] = movie
            return movie

    def add_show(
        self,
        title: str,
        seasons: dict[int, int] | int = 1,
        *,
        library: str = "TV Shows",
        year: int | None = None,
        size: int | None = None,
        subtitles: Iterable[str] = (),
        resolution: str | None = "1080",
        duration_ms: int = 2_700_000,
    ) -> Show:
        """Add a show; ``seasons`` maps season number -> episode count (0 = specials)."""
        with self.lock:
            lib = self._library_for(library, "show")
            rk = next(self._rating_keys)
            show = Show(
                rating_key=rk, title=title, year=year, added_at=self.now(),
                guids=_external_guids(rk, tv=True),
                plex_guid=f"plex://show/{files.short_hash('show', title, year)}",
                library=lib, folder=f"{lib.folder}/{files.safe_name(title)}",
            )
            self.items[rk] = show
            counts = {1: seasons} if isinstance(seasons, int) else seasons
            for season_no, n_eps in sorted(counts.items()):
                for _ in range(n_eps):
                    self.add_episode(show, season_no, size=size, subtitles=subtitles,
                                     resolution=resolution, duration_ms=duration_ms)
            return show

    def _season(self, show: Show, index: int) -> Season:
        for season in show.seasons:
            if season.index == index:
                return season
        rk = next(self._rating_keys)
        season = Season(rating_key=rk, index=index, show=show, added_at=self.now(),
                        plex_guid=f"plex://season/{files.short_hash('season', show.title, index)}")
        show.seasons.append(season)
        show.seasons.sort(key=lambda s: s.index)
        self.items[rk] = season
        return season

    def add_episode(
        self,
        show: Show,
        season: int,
        index: int | None = None,
        *,
        title: str | None = None,
        size: int | None = None,
        subtitles: Iterable[str] = (),
        resolution: str | None = "1080",
        duration_ms: int = 2_700_000,
    ) -> Episode:
        """Add (a new) episode to a show, creating the season if needed."""
        with self.lock:
            sea = self._season(show, season)
            index = index if index is not None else len(sea.episodes) + 1
            rk = next(self._rating_keys)
            rel = files.episode_relpath(show.folder, show.title, season, index)
            ep = Episode(
                rating_key=rk, index=index, parent_index=season,
                title=title or f"Episode {index}", duration_ms=duration_ms, added_at=self.now(),
                guids=_external_guids(rk, tv=True),
                plex_guid=f"plex://episode/{files.short_hash('ep', show.title, season, index)}",
                media=[self._make_media(rel, size=size, parts=1, subtitles=subtitles,
                                        resolution=resolution)],
                season=sea,
            )
            sea.episodes.append(ep)
            sea.episodes.sort(key=lambda e: e.index)
            self.items[rk] = ep
            return ep

    def _new_user(self, uid: int, name: str, kind: UserKind) -> User:
        user = User(
            id=uid, username=name if kind != "home" else "", title=name, kind=kind,
            token=f"tok-{files.short_hash('token', uid, name, length=20)}",
            uuid=files.short_hash("uuid", uid, name, length=16),
            email=f"{name}@example.invalid" if kind != "home" else "",
            restricted=kind == "home",
        )
        self.users.append(user)
        return user

    def add_user(
        self, name: str, kind: UserKind = "shared", *, libraries: Iterable[str] | None = None
    ) -> User:
        """Add a Plex Home (managed) member or a shared friend; ``libraries`` limits access."""
        if kind == "owner":
            raise ValueError("the world already has its owner")
        with self.lock:
            user = self._new_user(next(self._user_ids), name, kind)
            if libraries is not None:
                user.library_ids = {self.library(t).id for t in libraries}
            return user

    def add_catalog_title(
        self, title: str, type: LibraryType = "movie", year: int | None = None
    ) -> CatalogEntry:
        """A plex.tv title that is not in the library (for watchlists)."""
        with self.lock:
            guid = f"plex://{type}/{files.short_hash('catalog', title, year)}"
            entry = CatalogEntry(plex_guid=guid, title=title, type=type, year=year,
                                 guids=[f"imdb://tt9{len(self.catalog):06d}"])
            self.catalog[guid] = entry
            return entry

    # --------------------------------------------------------------- mutations
    def watch(self, user: User, item: Item) -> None:
        """Mark watched (scrobble): every playable leaf of ``item``."""
        with self.lock:
            for leaf in leaves(item):
                st = user.state(leaf.rating_key)
                st.view_count += 1
                st.view_offset_ms = 0
                st.last_viewed_at = self.now()

    scrobble = watch

    def unwatch(self, user: User, item: Item) -> None:
        """Mark unwatched."""
        with self.lock:
            for leaf in leaves(item):
                user.states.pop(leaf.rating_key, None)

    def set_progress(self, user: User, item: Playable, offset_ms: int) -> None:
        """Record a resume point (the item becomes in progress)."""
        with self.lock:
            st = user.state(item.rating_key)
            st.view_offset_ms = offset_ms
            st.last_viewed_at = self.now()

    def start_session(
        self, user: User, item: Playable, *, offset_ms: int = 0, state: SessionState = "playing",
        player: str = "Living Room TV", local: bool = True,
    ) -> Session:
        """Start playback; the session shows in ``/status/sessions``."""
        with self.lock:
            key = next(self._session_keys)
            sess = Session(session_key=key, user=user, item=item, view_offset_ms=offset_ms,
                           state=state, player_title=player, local=local,
                           player_id=files.short_hash("player", player, length=20))
            self.sessions[key] = sess
            return sess

    def pause_session(self, session: Session) -> None:
        """Pause a session."""
        with self.lock:
            session.state = "paused"

    def resume_session(self, session: Session) -> None:
        """Resume a paused session."""
        with self.lock:
            session.state = "playing"

    def progress_session(self, session: Session, offset_ms: int) -> None:
        """Move the playhead; also updates the user's resume point like Plex's timeline."""
        with self.lock:
            session.view_offset_ms = offset_ms
            self.set_progress(session.user, session.item, offset_ms)

    def stop_session(self, session: Session) -> None:
        """End playback: scrobble past 90 %, else keep the resume point."""
        with self.lock:
            self.sessions.pop(session.session_key, None)
            if session.view_offset_ms >= SCROBBLE_FRACTION * session.item.duration_ms:
                self.watch(session.user, session.item)
            elif session.view_offset_ms > 0:
                self.set_progress(session.user, session.item, session.view_offset_ms)

    def add_to_watchlist(self, user: User, item: Movie | Show | CatalogEntry | str) -> str:
        """Put a title (or a raw guid) on the user's plex.tv watchlist; returns its plex guid."""
        with self.lock:
            guid = item if isinstance(item, str) else item.plex_guid
            if guid not in user.watchlist:
                user.watchlist.insert(0, guid)  # plex.tv lists newest first
                user.watchlisted_at[guid] = self.now()
            return guid

    def remove_from_watchlist(self, user: User, item: Movie | Show | CatalogEntry | str) -> None:
        """Take a title off the watchlist."""
        with self.lock:
            guid = item if isinstance(item, str) else item.plex_guid
            if guid in user.watchlist:
                user.watchlist.remove(guid)

    def remove_file(self, item: Playable, *, forget: bool = True) -> list[Path]:
        """Delete the item's files from disk; with ``forget`` Plex stops listing them too."""
        with self.lock:
            removed = []
            for media in item.media:
                for part in media.parts:
                    path = self.physical_path(part)
                    path.unlink(missing_ok=True)
                    removed.append(path)
            if forget:
                self._forget(item)
            return removed

    def _forget(self, item: Playable) -> None:
        self.items.pop(item.rating_key, None)
        if isinstance(item, Episode):
            item.season.episodes.remove(item)


def leaves(item: Item) -> list[Playable]:
    """The playable items under ``item`` (itself for a movie or episode)."""
    if isinstance(item, Show):
        return list(item.episodes())
    if isinstance(item, Season):
        return list(item.episodes)
    return [item]


def _external_guids(rating_key: int, *, tv: bool = False) -> list[str]:
    guids = [f"imdb://tt{1_000_000 + rating_key:07d}", f"tmdb://{50_000 + rating_key}"]
    if tv:
        guids.append(f"tvdb://{300_000 + rating_key}")
    return guids
