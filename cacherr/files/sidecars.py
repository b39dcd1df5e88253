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
    if policy == "none" or candidate.name == media.name:
        return False
    if names.is_temp(candidate) or names.is_backup(candidate) or is_media(candidate):
        return False
    stem, name = media.stem, candidate.name
    if not name.startswith(stem) or len(name) == len(stem):
        return False
    joiner = name[len(stem)]
    if policy == "subtitles":
        return joiner == "." and candidate.suffix.lower() in SUBTITLE_SUFFIXES
    return joiner in ".-"


def find_sidecars(media: Path, policy: SidecarPolicy) -> list[Path]:
    """The sidecars of `media` on disk, sorted; regular files only (a symlink could lead out).

    Blocking (one folder listing): call it off the event loop. A missing folder has none.
    """
    if policy == "none":
        return []
    try:
        with os.scandir(media.parent) as entries:
            found = [
                Path(entry.path)
                for entry in entries
                if entry.is_file(follow_symlinks=False)
                and belongs_to(media, Path(entry.name), policy)
            ]
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(found)
