"""Building the media side of the simulated Plex world: libraries, shows, movies, files.

:class:`MediaLibrary` is the part of :class:`~.world.World` that owns media items and
their files on disk; users, sessions and watch state live in :mod:`.world`.
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
    Extra,
    Item,
    Library,
    LibraryType,
    Media,
    Movie,
    Part,
    Playable,
    Season,
    Show,
)


class MediaLibrary:
    """Libraries and media items, each file created under ``array_root``."""

    def __init__(
        self,
        array_root: Path | str,
        plex_root: str = "/data",
        *,
        file_bytes: int = 1024,
        create_files: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.lock = threading.RLock()
        self.array_root = Path(array_root)
        self.plex_root = PurePosixPath(plex_root)
        self.file_bytes = file_bytes
        self.create_files = create_files
        self.clock = clock
        self.libraries: dict[int, Library] = {}
        self.items: dict[int, Item] = {}
        self.catalog: dict[str, CatalogEntry] = {}
        self.extras: dict[int, Extra] = {}
        self._rating_keys = itertools.count(100)
        self._media_ids = itertools.count(1)

    def now(self) -> int:
        """Current time as Plex's epoch seconds."""
        return int(self.clock())

    def item(self, rating_key: int) -> Item | None:
        """The item with this ratingKey, if any."""
        with self.lock:
            return self.items.get(rating_key)

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
        self,
        rel: PurePosixPath,
        *,
        size: int | None,
        parts: int,
        subtitles: Iterable[str],
        resolution: str | None,
    ) -> Media:
        return files.make_media(
            self.array_root if self.create_files else None,
            self.plex_root,
            rel,
            size=self.file_bytes if size is None else size,
            parts=parts,
            subtitles=subtitles,
            resolution=resolution,
            next_id=lambda: next(self._media_ids),
        )

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
                medias.append(
                    self._make_media(
                        rel, size=size, parts=parts, subtitles=subtitles, resolution=resolution
                    )
                )
            movie = Movie(
                rating_key=rk,
                title=title,
                year=year,
                duration_ms=duration_ms,
                added_at=self.now(),
                guids=guids if guids is not None else files.external_guids(rk),
                plex_guid=f"plex://movie/{files.short_hash('movie', title, year)}",
                media=medias,
                library=lib,
            )
            self.items[rk] = movie
            return movie

    def add_trailer(self, movie: Movie, *, duration_ms: int = 150_000) -> Extra:
        """A trailer of ``movie`` (Plex type ``clip``), its file beside the movie's."""
        with self.lock:
            rel = PurePosixPath(movie.media[0].parts[0].file).relative_to(self.plex_root)
            rel = rel.with_name(f"{rel.stem}-trailer{rel.suffix}")
            media = self._make_media(rel, size=None, parts=1, subtitles=(), resolution="1080")
            extra = Extra(next(self._rating_keys), "clip", f"{movie.title} (Trailer)",
                          duration_ms, [media], movie.library.id, movie.rating_key)  # fmt: skip
            self.extras[extra.rating_key] = extra
            return extra

    def add_track(self, title: str, *, section_id: int = 99, duration_ms: int = 240_000) -> Extra:
        """A music track (Plex ``Track``) in a music section Cacherr does not watch."""
        with self.lock:
            rel = PurePosixPath("music", f"{title}.flac")
            media = self._make_media(rel, size=None, parts=1, subtitles=(), resolution=None)
            extra = Extra(next(self._rating_keys), "track", title, duration_ms, [media], section_id)
            self.extras[extra.rating_key] = extra
            return extra

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
                rating_key=rk,
                title=title,
                year=year,
                added_at=self.now(),
                guids=files.external_guids(rk, tv=True),
                plex_guid=f"plex://show/{files.short_hash('show', title, year)}",
                library=lib,
                folder=f"{lib.folder}/{files.safe_name(title)}",
            )
            self.items[rk] = show
            counts = {1: seasons} if isinstance(seasons, int) else seasons
            for season_no, n_eps in sorted(counts.items()):
                for _ in range(n_eps):
                    self.add_episode(
                        show,
                        season_no,
                        size=size,
                        subtitles=subtitles,
                        resolution=resolution,
                        duration_ms=duration_ms,
                    )
            return show

    def _season(self, show: Show, index: int) -> Season:
        for season in show.seasons:
            if season.index == index:
                return season
        rk = next(self._rating_keys)
        season = Season(
            rating_key=rk,
            index=index,
            show=show,
            added_at=self.now(),
            plex_guid=f"plex://season/{files.short_hash('season', show.title, index)}",
        )
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
                rating_key=rk,
                index=index,
                parent_index=season,
                title=title or f"Episode {index}",
                duration_ms=duration_ms,
                added_at=self.now(),
                guids=files.external_guids(rk, tv=True),
                plex_guid=f"plex://episode/{files.short_hash('ep', show.title, season, index)}",
                media=[
                    self._make_media(
                        rel, size=size, parts=1, subtitles=subtitles, resolution=resolution
                    )
                ],
                season=sea,
            )
            sea.episodes.append(ep)
            sea.episodes.sort(key=lambda e: e.index)
            self.items[rk] = ep
            return ep

    def add_catalog_title(
        self,
        title: str,
        type: LibraryType = "movie",
        year: int | None = None,
        *,
        guids: list[str] | None = None,
    ) -> CatalogEntry:
        """A plex.tv title not in the library by its plex guid (for watchlists); ``guids``
        sets its external ids (e.g. those of a local item a legacy agent matched)."""
        with self.lock:
            guid = f"plex://{type}/{files.short_hash('catalog', title, year)}"
            entry = CatalogEntry(
                plex_guid=guid,
                title=title,
                type=type,
                year=year,
                guids=guids if guids is not None else [f"imdb://tt9{len(self.catalog):06d}"],
            )
            self.catalog[guid] = entry
            return entry

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
