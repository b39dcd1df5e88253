"""Path mappings: turn a path from Plex, a list, the API or a user into a checked `Location`.

This is the gate every path passes before any file is read, written or renamed: it picks the
mapping with the longest `plex` prefix, normalises the rest and refuses anything that would
leave the mapping's array or cache root, including through symlinked parent folders.
"""

from __future__ import annotations

import contextlib
import logging
import os
import posixpath
import re
import stat
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cacherr.config.models import Mapping
from cacherr.errors import PathRefused, Problem
from cacherr.files import names

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Location:
    """One file under one mapping, by its relative path, on both tiers.

    The mapping is left out of equality and hashing (pydantic models are not hashable); the
    remaining fields already identify the file, so locations can live in sets and dict keys.
    """

    mapping: Mapping = field(compare=False)
    rel: str
    plex_path: str
    array_path: Path
    cache_path: Path
    backup_path: Path

    @property
    def mapping_name(self) -> str:
        """The name of the mapping this file belongs to."""
        return self.mapping.name

    @property
    def cacheable(self) -> bool:
        """Whether the mapping allows moving this file at all."""
        return self.mapping.cacheable

    @property
    def host_cache_path(self) -> str:
        """The cache copy's path as the Unraid host sees it (for the mover's ignore list)."""
        host = self.mapping.host_cache
        if host is None:
            return str(self.cache_path)
        return posixpath.join(host, self.rel)

    def require_cacheable(self) -> None:
        """Raise `PathRefused` when the mapping says its files must never be moved."""
        if not self.mapping.cacheable:
            raise PathRefused(
                f"{self.plex_path} belongs to mapping {self.mapping.name!r}, which is set "
                "cacheable: false, so its files are never moved"
            )


@dataclass(frozen=True)
class Placed:
    """Where a path falls by its text alone: its mapping and the path below it.

    No folder was looked at on disk, so a `Placed` names a file, never opens one: it is for
    lists of names (the mover's ignore list), where a path's file was checked when cached.
    """

    mapping: Mapping = field(compare=False)
    rel: str


class PathResolver:
    """Resolves paths against the configured mappings; the only way to obtain a `Location`."""

    def __init__(
        self, mappings: Sequence[Mapping], *, realpath: Callable[[str], str] = os.path.realpath
    ) -> None:
        # Longest plex prefix first, so the first match is the most specific mapping.
        self._by_prefix = sorted(mappings, key=lambda m: len(m.plex), reverse=True)
        self._by_name = {m.name: m for m in mappings}
        self._realpath = realpath

    def for_one_pass(self) -> PathResolver:
        """A resolver for one blocking pass over many paths (a survey): each folder is
        resolved on disk once, not once per file in it. Keep it for that pass only."""
        return PathResolver(self._by_prefix, realpath=remembering_realpath())

    @property
    def mappings(self) -> list[Mapping]:
        """The mappings, most specific plex prefix first."""
        return list(self._by_prefix)

    def mapping(self, name: str) -> Mapping:
        """The mapping called `name`, or `PathRefused`."""
        try:
            return self._by_name[name]
        except KeyError:
            raise PathRefused(f"there is no path mapping named {name!r}") from None

    def from_plex(self, plex_path: str) -> Location:
        """Locate a file by the path Plex (or a list, the API, a user) reports for it."""
        placed = self.place(plex_path)
        return _locate(placed.mapping, placed.rel, self._realpath)

    def place(self, plex_path: str) -> Placed:
        """`from_plex`'s checks of the text only (no folder resolved on disk)."""
        _check_text(plex_path)
        if not plex_path.startswith("/"):
            raise PathRefused(f"{plex_path!r} is not an absolute path")
        if plex_path.endswith("/"):
            raise PathRefused(f"{plex_path!r} has an empty file name (it ends with '/')")
        # normpath folds '.', '..' and repeated slashes; an absolute path cannot climb above
        # '/', and the result is then matched against the plex prefixes like any other path.
        path = "/" + posixpath.normpath(plex_path).lstrip("/")
        for mapping in self._by_prefix:
            rel = _relative_to(path, mapping.plex)
            if rel is None:
                continue
            if not rel:
                raise PathRefused(f"{plex_path!r} is the root folder of mapping {mapping.name!r}")
            name = posixpath.basename(rel)
            if names.is_temp(name) or names.is_backup(name):
                raise PathRefused(f"{plex_path!r} is one of Cacherr's own backup or temp names")
            return Placed(mapping, rel)
        raise PathRefused(f"{plex_path!r} is under no configured path mapping")

    def for_move(self, plex_path: str) -> Location:
        """`from_plex`, also refusing files of mappings set `cacheable: false`."""
        location = self.from_plex(plex_path)
        location.require_cacheable()
        return location

    def from_rel(self, mapping_name: str, rel: str) -> Location:
        """Locate a file by its path relative to a mapping's roots (journal, database, audit)."""
        mapping = self.mapping(mapping_name)
        _check_text(rel)
        if rel.startswith("/"):
            raise PathRefused(f"{rel!r} must be relative to the roots of mapping {mapping_name!r}")
        if rel.endswith("/"):
            raise PathRefused(f"{rel!r} has an empty file name (it ends with '/')")
        normal = posixpath.normpath(rel)
        if normal == "." or normal == ".." or normal.startswith("../"):
            raise PathRefused(f"{rel!r} does not name a file inside mapping {mapping_name!r}")
        return _locate(mapping, normal, self._realpath)


_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def remembering_realpath() -> Callable[[str], str]:
    """Blocking: `os.path.realpath` for one pass over many paths. Each folder's answer is
    kept, so a path whose parent was resolved before costs one look at its last part (more
    only if that part is a link). Keep it for that pass only: the disk may change after."""
    seen: dict[str, str] = {}

    def realpath(path: str) -> str:
        real = seen.get(path)
        if real is None:
            real = seen[path] = _below(path)
        return real

    def _below(path: str) -> str:
        parent, name = posixpath.split(path)
        if not name or name in (".", "..") or parent == path or not parent.startswith("/"):
            return os.path.realpath(path)
        joined = posixpath.join(realpath(parent), name)
        try:
            if not stat.S_ISLNK(os.lstat(joined).st_mode):
                return joined
        except OSError:
            return joined  # missing (or unreadable): realpath keeps such a part as it is
        return os.path.realpath(joined)

    return realpath


def _check_text(path: object) -> None:
    if not isinstance(path, str):
        raise PathRefused(f"{path!r} is not a text path")
    if not path.strip():
        raise PathRefused("the path is empty")
    if "\x00" in path:
        raise PathRefused(f"{path!r} contains a NUL byte")
    # Newlines would split a line of the mover's list; no real media name has controls.
    if _CONTROLS.search(path):
        raise PathRefused(f"{path!r} contains a newline or another control character")


def _relative_to(path: str, prefix: str) -> str | None:
    """`path` below `prefix` on a component boundary, '' for the prefix itself, else None."""
    if prefix == "/":
        return path.lstrip("/")
    if path == prefix:
        return ""
    if path.startswith(prefix + "/"):
        return path[len(prefix) + 1 :]
    return None


def is_within(path: str, root: str) -> bool:
    """Whether `path` equals `root` or lies below it, on component boundaries."""
    return _relative_to(path, root) is not None


def _locate(mapping: Mapping, rel: str, realpath: Callable[[str], str]) -> Location:
    # Joined as text and parsed once each (`rel` is normalised and relative): a survey
    # locates every file of a burst, and each `Path` join parses both sides again.
    array_path = Path(posixpath.join(mapping.array, rel))
    cache_path = Path(posixpath.join(mapping.cache, rel))
    # A symlinked folder along the way could lead anywhere: resolve the parents on disk and
    # make sure they are still under the (equally resolved) roots.
    for side, root, target in (
        ("array", mapping.array, array_path),
        ("cache", mapping.cache, cache_path),
    ):
        real_root = realpath(root)
        real_parent = realpath(posixpath.dirname(str(target)))
        if not is_within(real_parent, real_root):
            raise PathRefused(
                f"{target} leaves the {side} root {root} of mapping {mapping.name!r} "
                f"(its folder resolves to {real_parent})"
            )
    return Location(
        mapping=mapping,
        rel=rel,
        plex_path=posixpath.join(mapping.plex, rel),
        array_path=array_path,
        cache_path=cache_path,
        backup_path=names.backup_path(array_path),
    )


# --- start-up checks -------------------------------------------------------------------

UNION_FIX = (
    "use /mnt/user0/<share>/... or /mnt/diskN/<share>/... for array, never the /mnt/user "
    "union that also shows the pool, or a copy can truncate its own source"
)
# /mnt/<name> folders of an Unraid host that are not pools.
_NOT_POOLS = {"user", "user0", "disks", "remotes", "addons", "rootshare"}
# Files of the cache root compared with their array twins when looking for a union.
_SAMPLE_FILES = 64


@dataclass(frozen=True, kw_only=True)
class MappingProblem(Problem):
    """A `Problem` that disables one mapping; `mapping` names it."""

    mapping: str


def check_mappings(mappings: Sequence[Mapping], *, probe: bool = True) -> list[Problem]:
    """Everything wrong with the mappings on disk; a mapping with a problem must not be used.

    Blocking (stat calls, and with `probe` a hidden file created and removed in each cache
    root to see whether the array side shows it): run it off the event loop.
    """
    problems: list[Problem] = []
    first_with_prefix: dict[str, str] = {}
    for index, mapping in enumerate(mappings):
        where = f"paths.mappings.{index}"
        other = first_with_prefix.setdefault(mapping.plex, mapping.name)
        if other != mapping.name:
            problems.append(
                MappingProblem(
                    path=f"{where}.plex",
                    message=f"mapping {other!r} already uses the plex prefix {mapping.plex}",
                    mapping=mapping.name,
                )
            )
        for key, message in _check_one(mapping, probe=probe):
            problems.append(
                MappingProblem(path=f"{where}.{key}", message=message, mapping=mapping.name)
            )
    return problems


def refused_mappings(problems: Iterable[Problem]) -> set[str]:
    """Names of the mappings `check_mappings` found a problem with (not to be used)."""
    return {p.mapping for p in problems if isinstance(p, MappingProblem)}


def _check_one(mapping: Mapping, *, probe: bool) -> list[tuple[str, str]]:
    roots = [("array", mapping.array)]
    if mapping.cacheable:
        roots.append(("cache", mapping.cache))
    found = [(key, msg) for key, root in roots if (msg := _root_problem(key, root)) is not None]
    if found or not mapping.cacheable:
        return found
    reason = union_reason(mapping.array, mapping.cache, probe=probe)
    if reason is not None:
        return [("array", f"{reason}: {UNION_FIX}")]
    real_array, real_cache = os.path.realpath(mapping.array), os.path.realpath(mapping.cache)
    if real_array == real_cache:
        return [("cache", f"cache and array are the same folder ({real_cache})")]
    if is_within(real_cache, real_array):
        return [("cache", f"the cache folder {real_cache} lies inside the array folder")]
    if is_within(real_array, real_cache):
        return [("array", f"the array folder {real_array} lies inside the cache folder")]
    return []


def _root_problem(key: str, root: str) -> str | None:
    if not os.path.lexists(root):
        return f"the {key} folder {root} does not exist"
    if not os.path.isdir(root):
        return f"the {key} folder {root} is not a folder"
    return None


def union_reason(array: str, cache: str, *, probe: bool = True) -> str | None:
    """Why the `array` root shows the pool's files too (an Unraid union share), or None."""
    if os.path.normpath(array) == os.path.normpath(cache):
        return None  # the same folder twice: a plainer problem, reported as such
    array_parts, cache_parts = _unraid_parts(array), _unraid_parts(cache)
    if (
        array_parts is not None
        and cache_parts is not None
        and array_parts[1] == "user"
        and cache_parts[1] not in _NOT_POOLS
        and not cache_parts[1].startswith("disk")
        and (array_parts[0], array_parts[2]) == (cache_parts[0], cache_parts[2])
    ):
        share = array_parts[2]
        return f"array {array} is the /mnt/user union of share {share!r}, which shows the pool too"
    real_array, real_cache = os.path.realpath(array), os.path.realpath(cache)
    if real_array == real_cache and os.path.normpath(array) != os.path.normpath(cache):
        # Unraid makes /mnt/user/<share> of an exclusive (pool-only) share a pool symlink.
        return f"array {array} resolves to the cache folder {real_cache}"
    twin = _same_file_on_both(array, cache)
    if twin is not None:
        return f"array {array} shows the same file as the cache ({twin})"
    if probe and shows_new_files(array, cache):
        return f"a file created in the cache folder {cache} appears in array {array}"
    return None


def _unraid_parts(path: str) -> tuple[str, str, str] | None:
    """(folder holding `mnt`, tier, share) of a `.../mnt/<tier>/<share>/...` path."""
    parts = Path(path).parts
    for i, part in enumerate(parts[:-2]):
        if part == "mnt":
            return str(Path(*parts[: i + 1])), parts[i + 1], parts[i + 2]
    return None


def _same_file_on_both(array: str, cache: str) -> str | None:
    """A cache file whose array twin is the very same inode, sampled breadth first.

    The twin is not followed: in symlink mode the array name of a cached file is Cacherr's
    own symlink to the cache copy, which is no union.
    """
    pending, seen = [Path(cache)], 0
    while pending and seen < _SAMPLE_FILES:
        folder = pending.pop(0)
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                pending.append(Path(entry.path))
            elif entry.is_file(follow_symlinks=False):
                seen += 1
                rel = os.path.relpath(entry.path, cache)
                try:
                    twin = os.stat(os.path.join(array, rel), follow_symlinks=False)
                    if os.path.samestat(entry.stat(), twin):
                        return rel
                except OSError:
                    pass
                if seen >= _SAMPLE_FILES:
                    break
    return None


def shows_new_files(array: str, cache: str) -> bool:
    """Whether a hidden file created in `cache` becomes visible in `array` (a union mount).

    The only test that also catches a union mapped into a container under another name; a
    read-only cache root makes it answer False.
    """
    probe = Path(cache) / f".cacherr-union-probe.{os.getpid()}.{os.urandom(4).hex()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:
        return False
    try:
        os.close(fd)
        return os.path.lexists(Path(array) / probe.name)
    finally:
        os.unlink(probe)


# --- share folders not yet on the pool -------------------------------------------------


def missing_share_folders(mapping: Mapping) -> list[Path] | None:
    """The cache folders to create, outermost first, when only the share's folder (or
    folders below it) is missing on an existing Unraid pool; None when it cannot be made.

    On Unraid `/mnt/<pool>/<share>` exists only once something of the share is on the pool.
    """
    parts = _unraid_parts(mapping.cache)
    if not mapping.cacheable or parts is None or os.path.lexists(mapping.cache):
        return None
    mnt, pool, _share = parts
    pool_root = Path(mnt) / pool
    if pool in _NOT_POOLS or pool.startswith("disk") or not pool_root.is_dir():
        return None
    if not os.path.isdir(mapping.array):
        return None  # nothing to mirror: the missing array folder is reported instead
    missing, folder = [], Path(mapping.cache)
    while folder != pool_root and not os.path.lexists(folder):
        missing.append(folder)
        folder = folder.parent
    if not folder.is_dir() or folder.is_symlink():
        return None
    return missing[::-1]


def create_share_folders(mappings: Iterable[Mapping]) -> list[str]:
    """Create the missing cache folders of `missing_share_folders`, each with the owner and
    mode of its array twin (the share's folder on the array); one message per mapping.

    Blocking; a folder that cannot be made is left to `check_mappings` to report.
    """
    said: list[str] = []
    for mapping in mappings:
        folders = missing_share_folders(mapping)
        if not folders:
            continue
        array_root, cache_root = Path(mapping.array), Path(mapping.cache)
        try:
            for folder in folders:
                _make_like(folder, _array_twin(folder, cache_root, array_root))
        except OSError as exc:
            log.warning("Could not create the cache folder %s: %s", folders[-1], exc)
            continue
        said.append(
            f"created the cache folder {cache_root} of mapping {mapping.name!r} (its share had "
            f"nothing on the pool yet), with the owner and mode of {array_root}"
        )
    return said


def _array_twin(folder: Path, cache_root: Path, array_root: Path) -> Path:
    # The array folder at the same depth above the array root, if it bears the same name
    # (the share's folder); else the array root itself.
    depth = len(cache_root.parts) - len(folder.parts)
    if depth > len(array_root.parents):
        return array_root
    twin = array_root.parents[depth - 1] if depth else array_root
    return twin if twin.name == folder.name and twin.is_dir() else array_root


def _make_like(folder: Path, twin: Path) -> None:
    st = os.stat(twin)
    os.mkdir(folder, 0o700)
    with contextlib.suppress(PermissionError):  # not root: the folder stays ours
        os.chown(folder, st.st_uid, st.st_gid)
    os.chmod(folder, stat.S_IMODE(st.st_mode))
