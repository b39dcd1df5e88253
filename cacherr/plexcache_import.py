"""`cacherr import-plexcache FILE`: a `plexcache_settings.json` turned into Cacherr settings.

Only what has a Cacherr equivalent is carried over; everything else is reported with the
reason, so nothing is dropped silently. The array side is read through `/mnt/user0` (or
left as given when it is not a `/mnt/user` path): Cacherr refuses the `/mnt/user` union as
an array root, where a copy can truncate its own source.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any

_NOT_CARRIED = {
    "skip": "Cacherr never moves a file being played and keeps working during sessions",
    "exit_if_active_session": "Cacherr never moves a file being played and keeps working",
    "debug": "use `cacherr check` and the sweep's dry run (Maintenance) instead",
    "unraid": "Cacherr is built for Unraid; no switch is needed",
    "firststart": "not a setting",
    "watchlist_cache_expiry": "watchlists are read at each sweep (sweep.interval_s)",
    "skip_users": "these are user tokens; turn the users off on the Users page",
    "skip_ondeck": "these are user tokens; turn on-deck off per user on the Users page",
    "skip_watchlist": "these are user tokens; turn watchlists off per user on the Users page",
}


@dataclass
class Imported:
    """The settings patch and what could not be carried over (key, why)."""

    patch: dict[str, Any] = field(default_factory=dict)
    notes: list[tuple[str, str]] = field(default_factory=list)

    def set(self, section: str, key: str, value: Any) -> None:
        """Put one value into the patch."""
        self.patch.setdefault(section, {})[key] = value


def _folder(path: str) -> str:
    return "/" + path.strip("/") if path.strip("/") else "/"


def _array_root(real_source: str) -> str:
    root = _folder(real_source)
    if root == "/mnt/user" or root.startswith("/mnt/user/"):
        return "/mnt/user0" + root.removeprefix("/mnt/user")
    return root


def _share(path: str) -> tuple[str, str] | None:
    """(tier, share) of an Unraid `/mnt/<tier>/<share>/...` path; share '' for a tier root."""
    parts = _folder(path).strip("/").split("/")
    if len(parts) < 2 or parts[0] != "mnt":
        return None
    return parts[1], parts[2] if len(parts) > 2 else ""


def _shares_differ(array: str, cache: str) -> str | None:
    """Why `array` and `cache` cannot be one folder on two tiers (PlexCache-R #136), or None."""
    on_array, on_pool = _share(array), _share(cache)
    if on_array is None or on_pool is None or on_array[1] == on_pool[1]:
        return None
    hint = posixpath.join(f"/mnt/{on_pool[0]}", array.split("/", 3)[-1]) if on_array[1] else ""
    return (
        f"array {array} is share {on_array[1] or '(none)'!r} but cache {cache} is "
        f"{'the whole pool' if not on_pool[1] else f'share {on_pool[1]!r}'}: copies would land "
        "outside the share, so this mapping was not imported"
        + (f" (did you mean cache {hint}?)" if hint and not on_pool[1] else "")
    )


def _add_mapping(out: Imported, mapping: dict[str, Any], where: str) -> None:
    if mapping.get("cacheable", True):
        why = _shares_differ(mapping["array"], mapping["cache"])
        if why is not None:
            out.notes.append((where, why))
            return
    out.patch.setdefault("paths", {}).setdefault("mappings", []).append(mapping)


def _mapping_list(entries: list[Any], out: Imported) -> None:
    """PlexCache-R/D's `path_mappings` list, one Cacherr mapping each."""
    for index, entry in enumerate(entries):
        where = f"path_mappings.{index}"
        if not isinstance(entry, dict) or not entry.get("plex_path") or not entry.get("real_path"):
            out.notes.append((where, "no plex_path or real_path, so it was not imported"))
            continue
        name = str(entry.get("name") or f"mapping {index + 1}")
        if entry.get("enabled") is False:
            out.notes.append((where, f"{name!r} is disabled in PlexCache, so not imported"))
            continue
        cacheable = entry.get("cacheable", True) is not False and bool(entry.get("cache_path"))
        array = _array_root(str(entry["real_path"]))
        mapping: dict[str, Any] = {
            "name": name,
            "plex": _folder(str(entry["plex_path"])),
            "array": array,
            # A mapping never moved needs no pool folder; its array stands in for it.
            "cache": _folder(str(entry["cache_path"])) if cacheable else array,
        }
        host = entry.get("host_cache_path")
        if cacheable and host and _folder(str(host)) != mapping["cache"]:
            mapping["host_cache"] = _folder(str(host))
        if not cacheable:
            mapping["cacheable"] = False
        _add_mapping(out, mapping, where)


def _mappings(data: dict[str, Any], out: Imported) -> None:
    if isinstance(data.get("path_mappings"), list) and data["path_mappings"]:
        # The current format; the legacy keys PlexCache keeps beside it describe one of them.
        _mapping_list(data["path_mappings"], out)
        for key in ("plex_source", "real_source", "cache_dir"):
            if key in data:
                out.notes.append((key, "superseded by path_mappings, which were imported"))
        return
    try:
        plex_source, real_source = str(data["plex_source"]), str(data["real_source"])
        cache_dir = str(data["cache_dir"])
        plex_folders = [str(f).strip("/") for f in data.get("plex_library_folders") or []]
        nas_folders = [str(f).strip("/") for f in data.get("nas_library_folders") or []]
    except KeyError as exc:
        out.notes.append((str(exc.args[0]), "missing, so no path mapping was made"))
        return
    if len(plex_folders) != len(nas_folders):
        out.notes.append(("plex_library_folders", "not as many as nas_library_folders"))
        return
    pairs = list(zip(plex_folders, nas_folders, strict=True)) or [("", "")]
    for plex_folder, nas_folder in pairs:
        mapping = {
            "name": nas_folder or "media",
            "plex": _folder(posixpath.join(plex_source, plex_folder)),
            "array": _folder(posixpath.join(_array_root(real_source), nas_folder)),
            "cache": _folder(posixpath.join(cache_dir, nas_folder)),
        }
        _add_mapping(out, mapping, "cache_dir")
    if _array_root(real_source) != _folder(real_source):
        out.notes.append(
            ("real_source", f"read through {_array_root(real_source)}, not the /mnt/user union")
        )


def from_plexcache(data: dict[str, Any]) -> Imported:
    """Translate a PlexCache settings document."""
    out = Imported()
    if data.get("PLEX_URL"):
        out.set("plex", "url", str(data["PLEX_URL"]))
    if data.get("PLEX_TOKEN"):
        out.set("plex", "token", str(data["PLEX_TOKEN"]))
    if data.get("valid_sections"):
        out.set("plex", "sections", [str(s) for s in data["valid_sections"]])
    if data.get("remote_watchlist_toggle") and data.get("remote_watchlist_rss_url"):
        out.set("plex", "friends_watchlist_rss", str(data["remote_watchlist_rss_url"]))
    if "number_episodes" in data:
        out.set("cache", "next_episodes", min(int(data["number_episodes"]), 100))
    for key, setting in (
        ("max_concurrent_moves_cache", "copy_concurrency"),
        ("max_concurrent_moves_array", "restore_concurrency"),
    ):
        if key in data:
            out.set("cache", setting, max(1, min(int(data[key]), 16)))
    if "watchlist_episodes" in data:
        out.set("watchlist", "episodes", min(int(data["watchlist_episodes"]), 100))
    if "watched_cache_expiry" in data:
        out.set("retention", "hours", float(data["watched_cache_expiry"]))
    if data.get("watched_move") is False:
        out.notes.append(("watched_move", "watched files always go back after retention.hours"))
    users: dict[str, Any] = {}
    days = data.get("days_to_monitor")
    watchlist = data.get("watchlist_toggle")
    for kind in ("main", "home", "shared"):
        policy: dict[str, Any] = {}
        if days is not None:
            policy["days_to_monitor"] = int(days)
        if kind == "main" and watchlist is not None:
            policy["watchlist"] = bool(watchlist)
        if kind != "main" and data.get("users_toggle") is False:
            policy["enabled"] = False
        if policy:
            users[kind] = policy
    if users:
        out.patch["users"] = users
    _mappings(data, out)
    known = {
        "PLEX_URL", "PLEX_TOKEN", "valid_sections", "remote_watchlist_toggle",
        "remote_watchlist_rss_url", "number_episodes", "max_concurrent_moves_cache",
        "max_concurrent_moves_array", "watchlist_episodes", "watched_cache_expiry",
        "watched_move", "days_to_monitor", "watchlist_toggle", "users_toggle", "plex_source",
        "real_source", "cache_dir", "plex_library_folders", "nas_library_folders",
        "path_mappings",
    }  # fmt: skip
    for key in sorted(set(data) - known):
        out.notes.append((key, _NOT_CARRIED.get(key, "no Cacherr equivalent")))
    return out
