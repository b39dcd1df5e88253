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


def _mappings(data: dict[str, Any], out: Imported) -> None:
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
    mappings = []
    for plex_folder, nas_folder in pairs:
        mappings.append(
            {
                "name": nas_folder or "media",
                "plex": _folder(posixpath.join(plex_source, plex_folder)),
                "array": _folder(posixpath.join(_array_root(real_source), nas_folder)),
                "cache": _folder(posixpath.join(cache_dir, nas_folder)),
            }
        )
    out.set("paths", "mappings", mappings)
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
    }  # fmt: skip
    for key in sorted(set(data) - known):
        out.notes.append((key, _NOT_CARRIED.get(key, "no Cacherr equivalent")))
    return out
