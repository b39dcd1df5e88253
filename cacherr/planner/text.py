"""Small wording helpers for the reasons a plan gives."""

from __future__ import annotations


def gigabytes(size_bytes: int) -> str:
    """Bytes as a person reads them: "4.20 GB", "512 MB", "900 B" (decimal units)."""
    for unit, scale in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if abs(size_bytes) >= scale:
            return f"{size_bytes / scale:.2f} {unit}"
    return f"{size_bytes} B"


def name(plex_path: str) -> str:
    """The file name of a plex path."""
    return plex_path.rsplit("/", 1)[-1]
