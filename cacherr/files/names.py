"""File names the on-disk protocol gives meaning to (shared by the protocol and the audit)."""

from __future__ import annotations

from pathlib import Path

# The array original's name while its copy serves from the cache (the PlexCache convention,
# so existing installs can be adopted).
BACKUP_SUFFIX = ".plexcached"
# Hidden temp names in the destination folder: `.{name}.{op_id}.cacherr-tmp`.
TEMP_SUFFIX = ".cacherr-tmp"


def backup_path(array_path: Path) -> Path:
    """Where the array original waits while its cache copy serves."""
    return array_path.with_name(array_path.name + BACKUP_SUFFIX)


def temp_path(final: Path, op_id: int) -> Path:
    """The hidden temp name an operation writes before its atomic rename to `final`."""
    return final.with_name(f".{final.name}.{op_id}{TEMP_SUFFIX}")


def is_temp(path: Path) -> bool:
    """Whether `path` is one of Cacherr's temp files."""
    return path.name.startswith(".") and path.name.endswith(TEMP_SUFFIX)


def is_backup(path: Path) -> bool:
    """Whether `path` is an array original renamed aside."""
    return path.name.endswith(BACKUP_SUFFIX)
