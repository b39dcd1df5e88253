"""Media file naming and creation for the simulated Plex world.

Plex reports paths under ``plex_root``; the real bytes live at ``array_root`` plus the
same relative path, so a test can look at (and a cache can copy) actual files.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath

from .model import Media, Part

_UNSAFE = re.compile(r'[<>:"/\\|?*]')


def safe_name(title: str) -> str:
    """A title made safe for a file or folder name, the way media managers name them."""
    return _UNSAFE.sub("", title).strip()


def folder_for_library(title: str) -> str:
    """Default top-level folder of a library, e.g. ``TV Shows`` -> ``tv``."""
    defaults = {"tv shows": "tv", "movies": "movies"}
    key = title.strip().lower()
    return defaults.get(key, re.sub(r"[^a-z0-9]+", "-", key).strip("-") or "library")


def movie_relpath(folder: str, title: str, year: int | None, ext: str = "mkv") -> PurePosixPath:
    """Relative path of a movie file: ``movies/Heat (1995)/Heat (1995).mkv``."""
    name = safe_name(title) + (f" ({year})" if year else "")
    return PurePosixPath(folder, name, f"{name}.{ext}")


def episode_relpath(
    show_folder: str, show_title: str, season: int, episode: int, ext: str = "mkv"
) -> PurePosixPath:
    """Relative path of an episode: ``tv/Show/Season 01/Show - S01E03.mkv``."""
    name = safe_name(show_title)
    return PurePosixPath(
        show_folder, f"Season {season:02d}", f"{name} - S{season:02d}E{episode:02d}.{ext}"
    )


def with_part_suffix(rel: PurePosixPath, part_index: int, parts: int) -> PurePosixPath:
    """Multi-part files get ``- pt1``, ``- pt2`` suffixes (Plex's stacking convention)."""
    if parts == 1:
        return rel
    return rel.with_name(f"{rel.stem} - pt{part_index + 1}{rel.suffix}")


def deterministic_bytes(rel: PurePosixPath, size: int) -> bytes:
    """Content derived from the relative path only, so reruns produce identical files."""
    seed = hashlib.sha256(str(rel).encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


def write_file(array_root: Path, rel: PurePosixPath, size: int) -> int:
    """Create the physical file under ``array_root``; returns its size in bytes."""
    path = array_root.joinpath(*rel.parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(deterministic_bytes(rel, size))
    return size


def write_subtitle(array_root: Path, rel: PurePosixPath, lang: str) -> PurePosixPath:
    """Create a sidecar subtitle ``<stem>.<lang>.srt`` next to ``rel``; returns its rel path."""
    sub = rel.with_name(f"{rel.stem}.{lang}.srt")
    path = array_root.joinpath(*sub.parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"1\n00:00:01,000 --> 00:00:02,000\n{rel.stem}\n", encoding="utf-8")
    return sub


def short_hash(*parts: object, length: int = 24) -> str:
    """A stable hex id, used for plex:// guids, uuids and tokens."""
    text = "\x1f".join(str(p) for p in parts)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def external_guids(rating_key: int, *, tv: bool = False) -> list[str]:
    """Deterministic imdb://, tmdb:// (and for TV tvdb://) guids for an item."""
    guids = [f"imdb://tt{1_000_000 + rating_key:07d}", f"tmdb://{50_000 + rating_key}"]
    if tv:
        guids.append(f"tvdb://{300_000 + rating_key}")
    return guids


def make_media(
    array_root: Path | None,
    plex_root: PurePosixPath,
    rel: PurePosixPath,
    *,
    size: int,
    parts: int,
    subtitles: Iterable[str],
    resolution: str | None,
    next_id: Callable[[], int],
) -> Media:
    """A Media element of ``parts`` files at ``rel``; writes them unless ``array_root`` is None."""
    part_list: list[Part] = []
    for i in range(parts):
        prel = with_part_suffix(rel, i, parts)
        subs: list[str] = []
        if array_root is not None:
            write_file(array_root, prel, size)
            subs = [str(plex_root / write_subtitle(array_root, prel, lang)) for lang in subtitles]
        part_list.append(
            Part(
                id=next_id(),
                file=str(plex_root / prel),
                size=size,
                container=prel.suffix.lstrip("."),
                subtitle_files=subs,
            )
        )
    return Media(
        id=next_id(), parts=part_list, video_resolution=resolution, container=rel.suffix.lstrip(".")
    )
