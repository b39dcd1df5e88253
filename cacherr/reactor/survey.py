"""One trip to the disks for a batch of files: sidecars, sizes and the pool's space.

Everything here is blocking (scandir, stat, statvfs) and runs on a worker thread, once per
reaction or sweep, so the event loop never waits on a disk. A file that cannot be used (gone
from the array, outside every mapping) is reported with the reason instead of a size.
"""

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cacherr.config.models import Mapping
from cacherr.errors import PathRefused
from cacherr.files.paths import Location, PathResolver
from cacherr.files.sidecars import SidecarPolicy, regular_files, sidecars_among
from cacherr.files.space import pools_space
from cacherr.planner import FILE_GONE


@dataclass
class Survey:
    """What the disks said: sidecars per media file, sizes, problems, the pool's bytes, and
    where each measured file lies (checked on disk, so a plan need not check it again)."""

    sidecars: dict[str, list[str]] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    total_bytes: int = 0
    free_bytes: int = 0
    locations: dict[str, Location] = field(default_factory=dict)

    def knows(self, plex_path: str) -> bool:
        """Whether this survey has a size or a problem for the file."""
        return plex_path in self.sizes or plex_path in self.problems

    def merged(self, other: Survey) -> Survey:
        """This survey with another's files added (its pool figures are the newer)."""
        return Survey(
            {**self.sidecars, **other.sidecars},
            {**self.sizes, **other.sizes},
            {**self.problems, **other.problems},
            other.total_bytes,
            other.free_bytes,
            {**self.locations, **other.locations},
        )

    def with_sidecars(self, media: Iterable[str]) -> list[str]:
        """Each media path followed by its sidecars, in order, without repeats."""
        out: dict[str, None] = {}
        for path in media:
            out[path] = None
            out.update(dict.fromkeys(self.sidecars.get(path, ())))
        return list(out)


def pool_bytes(mappings: Sequence[Mapping]) -> tuple[int, int]:
    """(total, free) bytes of the pools holding the cacheable mappings' cache roots."""
    space, _ = pools_space(m.cache for m in mappings if m.cacheable)
    return space.total_bytes, space.free_bytes


def survey(
    resolver: PathResolver,
    media: Iterable[str],
    *,
    measure: Iterable[str] = (),
    sidecars: SidecarPolicy = "none",
) -> Survey:
    """Blocking: find the sidecars of `media`, stat them and `measure`, read the pool.

    Sidecars are looked for on both tiers: once cached, a subtitle is hidden on the array
    (or replaced by a symlink) and only its cache copy still carries its plain name.
    """
    out = Survey()
    resolver = resolver.for_one_pass()
    located: dict[str, Location | PathRefused] = {}
    listings: dict[str, list[str]] = {}  # each folder listed once per survey

    def locate(path: str) -> Location:
        found = located.get(path)
        if found is None:
            try:
                found = located[path] = resolver.from_plex(path)
            except PathRefused as exc:
                found = located[path] = exc
        if isinstance(found, PathRefused):
            raise found
        return found

    def sidecars_of(media: Path) -> set[str]:
        folder, name = posixpath.split(str(media))
        listing = listings.get(folder)
        if listing is None:
            listing = listings[folder] = regular_files(Path(folder))
        # Told by text first: most folders hold no file named after this one but itself.
        stem = posixpath.splitext(name)[0]
        named = [n for n in listing if n.startswith(stem) and n != name]
        return {p.name for p in sidecars_among(media, named, sidecars)} if named else set()

    wanted: dict[str, None] = {}
    for path in media:
        wanted[path] = None
        if sidecars == "none":
            continue
        try:
            loc = locate(path)
        except PathRefused:
            continue
        names = sidecars_of(loc.array_path) | sidecars_of(loc.cache_path)
        folder = posixpath.dirname(loc.plex_path)
        found = [posixpath.join(folder, name) for name in sorted(names)]
        out.sidecars[path] = found
        wanted.update(dict.fromkeys(found))
    wanted.update(dict.fromkeys(measure))
    for path in wanted:
        try:
            loc = locate(path)
            loc.require_cacheable()
            st = os.stat(loc.array_path, follow_symlinks=False)
        except PathRefused as exc:
            out.problems[path] = exc.message
        except FileNotFoundError:
            out.problems[path] = FILE_GONE
        except OSError as exc:
            out.problems[path] = f"cannot read it: {exc.strerror or exc}"
        else:
            if stat.S_ISREG(st.st_mode):
                out.sizes[path] = st.st_size
                out.locations[path] = loc
            else:
                out.problems[path] = "it is not a regular file on the array"
    out.total_bytes, out.free_bytes = pool_bytes(resolver.mappings)
    return out
