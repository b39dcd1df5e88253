"""Sidecars: the files that travel with a media file (subtitles, and with `all` its artwork).

A sidecar sits in the media file's folder and its name starts with the media file's stem
followed by a dot (`Show - S01E01.en.forced.srt`); with `all`, Kodi-style artwork joined by a
dash (`Movie (2020)-poster.jpg`) counts too. Other media files and Cacherr's own backup and
temp names never do.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from cacherr.files import names

SidecarPolicy = Literal["subtitles", "all", "none"]

SUBTITLE_SUFFIXES = frozenset({".srt", ".ass", ".ssa", ".sub", ".idx", ".vtt", ".sup", ".smi"})
MEDIA_SUFFIXES = frozenset(
    {
        # video
        ".mkv", ".mp4", ".m4v", ".avi", ".mov", ".wmv", ".mpg", ".mpeg", ".m2ts", ".mts",
        ".ts", ".webm", ".flv", ".iso", ".vob", ".divx", ".ogm", ".ogv", ".3gp", ".asf",
        ".rm", ".rmvb", ".wtv", ".dvr-ms",
        # audio (music libraries)
        ".mp3", ".flac", ".m4a", ".m4b", ".aac", ".ogg", ".opus", ".wav", ".wma", ".alac",
        ".aiff", ".ape", ".dsf", ".dff", ".mka",
    }
)  # fmt: skip


def is_media(path: Path) -> bool:
    """Whether `path` names a video or audio file (by its suffix, any case)."""
    return path.suffix.lower() in MEDIA_SUFFIXES


def belongs_to(media: Path, candidate: Path, policy: SidecarPolicy) -> bool:
    """Whether `candidate` (a file name in the media file's folder) is one of its sidecars."""
    stem, name = media.stem, candidate.name
    # The name test first: it rules out nearly every other file of the folder at once.
    if policy == "none" or not name.startswith(stem) or len(name) == len(stem):
        return False
    if name == media.name or names.is_temp(candidate) or names.is_backup(candidate):
        return False
    if is_media(candidate):
        return False
    joiner = name[len(stem)]
    if policy == "subtitles":
        return joiner == "." and candidate.suffix.lower() in SUBTITLE_SUFFIXES
    return joiner in ".-"


def regular_files(folder: Path) -> list[str]:
    """The names of the regular files in `folder` (none if it is missing).

    Blocking (one folder listing): call it off the event loop.
    """
    try:
        with os.scandir(folder) as entries:
            return [entry.name for entry in entries if entry.is_file(follow_symlinks=False)]
    except (FileNotFoundError, NotADirectoryError):
        return []


def sidecars_among(media: Path, listing: list[str], policy: SidecarPolicy) -> list[Path]:
    """The sidecars of `media` among the file names `listing` of its folder, sorted."""
    if policy == "none":
        return []
    stem = media.stem
    return sorted(
        media.parent / name
        for name in listing
        if name.startswith(stem) and belongs_to(media, Path(name), policy)
    )


def find_sidecars(media: Path, policy: SidecarPolicy) -> list[Path]:
    """The sidecars of `media` on disk, sorted; regular files only (a symlink could lead out).

    Blocking (one folder listing): call it off the event loop. A missing folder has none.
    """
    if policy == "none":
        return []
    return sidecars_among(media, regular_files(media.parent), policy)
