"""File names the on-disk protocol gives meaning to (shared by the protocol and the audit)."""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
from collections.abc import Iterable
from pathlib import Path, PurePath

# The array original's name while its copy serves from the cache (the PlexCache convention,
# so existing installs can be adopted).
BACKUP_SUFFIX = ".plexcached"
# Hidden temp names in the destination folder: `.{name}.{op_id}.cacherr-tmp`; for a name too
# long for that, `.{start of name}~{hash of name}.{op_id}.cacherr-tmp` (see `temp_path`).
TEMP_SUFFIX = ".cacherr-tmp"
# The longest file name Linux file systems take (NAME_MAX), in bytes.
NAME_MAX_BYTES = 255
_TEMP_RE = re.compile(r"^\.(?P<final>.+)\.(?P<op>\d+)" + re.escape(TEMP_SUFFIX) + "$")


def backup_path(array_path: Path) -> Path:
    """Where the array original waits while its cache copy serves."""
    return array_path.with_name(array_path.name + BACKUP_SUFFIX)


def temp_path(final: Path, op_id: int) -> Path:
    """The hidden temp name an operation writes before its atomic rename to `final`.

    Always a legal name: when `final`'s own name leaves too little room, the temp keeps as
    much of its start as fits (whole characters) and a hash of the whole name.
    """
    name = f".{final.name}.{op_id}{TEMP_SUFFIX}"
    if len(os.fsencode(name)) <= NAME_MAX_BYTES:
        return final.with_name(name)
    whole = os.fsencode(final.name)
    tail = f"~{hashlib.blake2b(whole, digest_size=6).hexdigest()}.{op_id}{TEMP_SUFFIX}"
    room = NAME_MAX_BYTES - 1 - len(tail)
    while room > 0 and whole[room] & 0xC0 == 0x80:  # not inside a UTF-8 character
        room -= 1
    return final.with_name(f".{os.fsdecode(whole[:room])}{tail}")


def temp_final_name(temp_name: str, siblings: Iterable[str] = ()) -> str | None:
    """The name a temp file was going to become, or None for no temp name of Cacherr's.

    A shortened temp name (see `temp_path`) does not hold the whole name: it is found among
    `siblings`, the names beside it; without a match the name as read is returned.
    """
    match = _TEMP_RE.match(temp_name)
    if match is None:
        return None
    read, op_id = match["final"], int(match["op"])
    candidates = list(siblings)
    if read in candidates:
        return read
    for name in candidates:
        if temp_path(Path(name), op_id).name == temp_name:
            return name
    return read


def is_temp(path: PurePath | str) -> bool:
    """Whether `path` (a path, or its text) is one of Cacherr's temp files."""
    name = _name(path)
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def is_backup(path: PurePath | str) -> bool:
    """Whether `path` (a path, or its text) is an array original renamed aside."""
    return _name(path).endswith(BACKUP_SUFFIX)


def _name(path: PurePath | str) -> str:
    return posixpath.basename(path) if isinstance(path, str) else path.name
