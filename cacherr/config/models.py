"""The settings models: every section of `cacherr.json`, strict and self-documenting.

Unknown keys are errors, every field carries a description (the configuration reference
in docs/configuration.md is generated from them), units are part of the names and secrets are
`SecretStr` so they never print by accident.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

SCHEMA_VERSION = 1

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(%|[KMGT]i?B|B)?\s*$", re.IGNORECASE)
_UNITS = {
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "KIB": 2**10,
    "MIB": 2**20,
    "GIB": 2**30,
    "TIB": 2**40,
}


def parse_size(text: str, total_bytes: int | None = None) -> int:
    """Turn "500GB", "1.5TiB", "80%" or "1024" into bytes (a percentage needs the total)."""
    match = _SIZE_RE.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a size: use e.g. 500GB, 1.5TiB or 80%")
    number, unit = float(match.group(1)), (match.group(2) or "B").upper()
    if unit == "%":
        if number > 100:
            raise ValueError(f"{text!r}: a percentage cannot exceed 100%")
        if total_bytes is None:
            raise ValueError(f"{text!r} is a percentage and needs the pool size")
        return int(total_bytes * number / 100)
    return int(number * _UNITS[unit])


def _check_size(text: str) -> str:
    parse_size(text, total_bytes=0)
    return text


SizeText = Annotated[str, AfterValidator(_check_size)]


def _check_absolute(path: str) -> str:
    if not path.startswith("/"):
        raise ValueError(f"{path!r} must be an absolute path")
    return path.rstrip("/") or "/"


AbsPath = Annotated[str, AfterValidator(_check_absolute)]


class StrictModel(BaseModel):
    """Base of every section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


class GeneralConfig(StrictModel):
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Least severe log level written to the console and the activity log."
    )
    config_force_polling: bool = Field(
        False,
        description="Poll cacherr.json for changes instead of using file-system events "
        "(needed on some Docker bind mounts and network shares); applies at restart.",
    )
    config_poll_interval_ms: int = Field(
        500, ge=50, le=10_000, description="Interval of the forced polling, in milliseconds."
    )


class PlexConfig(StrictModel):
    url: str = Field(
        "", description="Address of the Plex Media Server, e.g. http://192.168.1.10:32400."
    )
    token: SecretStr | None = Field(None, description="The server owner's X-Plex-Token.")
    plextv_url: str = Field("https://plex.tv", description="Base URL of plex.tv.")
    discover_url: str = Field(
        "https://discover.provider.plex.tv",
        description="Base URL of Plex's discover service (watchlists).",
    )
    metadata_url: str = Field(
        "https://metadata.provider.plex.tv",
        description="Base URL of Plex's metadata service.",
    )
    timeout_s: float = Field(10.0, gt=0, le=120, description="Timeout of one Plex request.")
    retries: int = Field(
        3, ge=0, le=10, description="Retries on timeouts, 429 and 5xx, with backoff and jitter."
    )
    min_interval_ms: int = Field(
        0, ge=0, le=10_000, description="Least time between two calls to the Plex server."
    )
    max_per_minute: int = Field(
        600, ge=1, le=100_000, description="Most calls to the Plex server per minute."
    )
    plextv_min_interval_ms: int = Field(
        0,
        ge=0,
        le=60_000,
        description="Least time between two calls to plex.tv (on top of the budget).",
    )
    plextv_burst: int = Field(
        5, ge=1, le=100, description="Calls to plex.tv that may go at once before the rate applies."
    )
    plextv_per_second: float = Field(
        4.0,
        gt=0,
        le=100,
        description="Sustained calls per second to plex.tv (it answers 429 past ~10).",
    )
    token_ttl_hours: float = Field(
        24.0, gt=0, description="How long other users' tokens are kept before being fetched again."
    )
    sections: list[str] = Field(
        default_factory=list,
        description="Library sections to watch, by id or title; empty means every section.",
    )
    include_specials: bool = Field(
        False, description="Count season 0 (specials) when looking for the next episodes."
    )
    versions: Literal["all", "preferred"] = Field(
        "all", description="Cache every version of an item, or only the preferred resolution."
    )
    preferred_resolution: str = Field(
        "1080",
        description="Video resolution to keep when versions is 'preferred' (4k, 1080, 720, sd).",
    )
    database_path: str | None = Field(
        None,
        description="Plex's own library database, opened read-only to read on-deck of users "
        "without a token; unset to never open it.",
    )
    friends_watchlist_rss: SecretStr | None = Field(
        None, description="The owner's 'friends' watchlist' RSS URL from Plex Web."
    )
    verify_tls: bool = Field(
        True,
        description="Verify the Plex server's TLS certificate (REQUESTS_CA_BUNDLE if set).",
    )


class Mapping(StrictModel):
    name: str = Field(..., min_length=1, description="A name for this mapping, e.g. 'tv'.")
    plex: AbsPath = Field(..., description="Folder prefix as Plex reports it, e.g. /data/tv.")
    array: AbsPath = Field(
        ...,
        description="The same folder on the array as Cacherr sees it, e.g. /mnt/user0/media/tv "
        "(never the /mnt/user union when the cache is a pool of that share).",
    )
    cache: AbsPath = Field(
        ..., description="The same folder on the fast pool, e.g. /mnt/cache/media/tv."
    )
    host_cache: AbsPath | None = Field(
        None,
        description="The cache folder as the Unraid host sees it (for the mover exclusion "
        "file) when Cacherr runs in a container; unset when identical to cache.",
    )
    cacheable: bool = Field(
        True, description="False for libraries that must never be moved (e.g. a remote NAS)."
    )


class PathsConfig(StrictModel):
    mappings: list[Mapping] = Field(
        default_factory=list,
        description="Path mappings; the longest matching plex prefix wins.",
    )
    mode: Literal["union", "symlink"] = Field(
        "union",
        description="union: Unraid's /mnt/user serves the cache copy; symlink: a symlink to "
        "the cache copy takes the array file's name.",
    )

    @model_validator(mode="after")
    def _unique_names(self) -> PathsConfig:
        names = [m.name for m in self.mappings]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"mapping names must be unique: {', '.join(duplicates)}")
        return self


class CacheConfig(StrictModel):
    next_episodes: int = Field(
        5, ge=0, le=100, description="Episodes cached after the one being played."
    )
    prefetch_minutes: int = Field(
        0,
        ge=0,
        le=10_000,
        description="Cache enough episodes to cover this much runtime instead; 0 uses "
        "next_episodes.",
    )
    current_item: bool = Field(True, description="Also cache the item being played.")
    limit: SizeText = Field(
        "50%",
        description="Most space Cacherr may use on the pool: bytes (500GB) or % of the pool.",
    )
    min_free: SizeText = Field(
        "10%", description="Free space always left on the pool: bytes (50GB) or % of the pool."
    )
    evict_threshold: int = Field(
        95, ge=1, le=100, description="Usage (% of limit) at which eviction starts."
    )
    evict_target: int = Field(
        85, ge=0, le=100, description="Usage (% of limit) eviction brings the cache down to."
    )
    verify: Literal["size", "sample", "full"] = Field(
        "sample",
        description="How a copy is checked: size, size plus sampled blocks, or a full hash.",
    )
    sidecars: Literal["subtitles", "all", "none"] = Field(
        "subtitles", description="Files that travel with a media file (same stem)."
    )
    hardlinks: Literal["skip", "copy"] = Field(
        "skip", description="Files with several hard links (seeding) are skipped or copied."
    )
    copy_concurrency: int = Field(2, ge=1, le=16, description="Copies to the cache at once.")
    restore_concurrency: int = Field(1, ge=1, le=16, description="Restores to the array at once.")
    copies_per_disk: int = Field(
        1,
        ge=0,
        le=16,
        description="Copies reading from one array disk (/mnt/diskN) at once, so a stream "
        "from that disk shares it with one copy at most; 0: no limit.",
    )
    copy_limit_mib_s: float = Field(
        0,
        ge=0,
        le=100_000,
        description="Most MiB/s all copies together may move; 0: no limit.",
    )
    disk_limit_mib_s: float = Field(
        0,
        ge=0,
        le=100_000,
        description="Most MiB/s copies may read from one array disk (each copy on its own "
        "where the disk cannot be told); 0: no limit.",
    )
    disks_root: str = Field(
        "/mnt",
        description="Where the array disks (disk1, disk2, ...) are seen: /mnt on the host, "
        "/host/mnt in the Unraid template (the host's /mnt mapped read-only); a copy from "
        "/mnt/user0/<share>/... reads from the disk holding the same share path.",
    )

    @model_validator(mode="after")
    def _target_below_threshold(self) -> CacheConfig:
        if self.evict_target >= self.evict_threshold:
            raise ValueError("evict_target must be lower than evict_threshold")
        return self


class RetentionConfig(StrictModel):
    hours: float = Field(
        24.0, ge=0, description="Hours a file no claim holds stays before going back."
    )


class WatchlistConfig(StrictModel):
    episodes: int = Field(
        1,
        ge=0,
        le=100,
        description="A watchlisted show contributes its first N unwatched episodes.",
    )


class SweepConfig(StrictModel):
    interval_s: int = Field(
        1800, ge=60, description="Seconds between reconcile sweeps (ignored when cron is set)."
    )
    cron: str | None = Field(
        None, description="A five-field cron expression for the sweep, e.g. '*/30 * * * *'."
    )
    on_start: bool = Field(True, description="Run a sweep at start-up.")


class SessionsConfig(StrictModel):
    enabled: bool = Field(True, description="Poll Plex's sessions with the owner token.")
    poll_interval_s: float = Field(10.0, ge=1, le=3600, description="Seconds between polls.")
    scrobble_percent: int = Field(
        90, ge=50, le=100, description="Progress at which a polled session counts as watched."
    )


class WebhookConfig(StrictModel):
    secret: SecretStr | None = Field(
        None,
        description="Secret the webhook URLs carry (?secret=…); generated on first start.",
    )
    max_body_bytes: int = Field(
        10 * 2**20, ge=2**16, description="Largest webhook body accepted, thumbnail included."
    )


class WebConfig(StrictModel):
    host: str = Field("0.0.0.0", description="Address the web server listens on.")
    port: int = Field(5757, ge=1, le=65535, description="Port of the page, API and webhooks.")
    api_key: SecretStr | None = Field(
        None, description="API key (X-Api-Key header or apikey query); generated on first start."
    )
    auth: Literal["forms", "none"] = Field(
        "forms", description="forms: log in to use the page; none: open to the LAN (warned)."
    )
    username: str | None = Field(None, description="Login name; set on the first visit.")
    password_hash: SecretStr | None = Field(
        None, description="Login password as a slow hash; set from the page, never by hand."
    )
    password: SecretStr | None = Field(
        None,
        description="Login password in clear, for setting it from the environment "
        "(CACHERR_WEB__PASSWORD with CACHERR_WEB__USERNAME); the page stores a hash instead.",
    )
    session_ttl_hours: float = Field(168.0, gt=0, description="How long a login lasts.")
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Other names the page is opened under, e.g. a reverse proxy's "
        "cacherr.example.com ('*' for any); addresses, localhost, names without a dot and "
        ".local names always work. Guards against DNS rebinding.",
    )
    header_timeout_s: float = Field(
        15.0,
        gt=0,
        le=3600,
        description="Seconds a client has to send a request's headers; also how long an idle "
        "connection is kept open. Applies at restart.",
    )
    body_timeout_s: float = Field(
        60.0,
        gt=0,
        le=3600,
        description="Seconds a client has to send a request's body (a webhook with its "
        "thumbnail, a settings save); a slower one is disconnected.",
    )


class NotificationEvents(StrictModel):
    caching_summary: bool = Field(True, description="A summary of what was cached.")
    restores: bool = Field(False, description="A summary of what went back to the array.")
    errors: bool = Field(
        True, description="Failed operations, damaged cache copies and configuration errors."
    )
    low_space: bool = Field(
        True, description="The pool's free space falls under cache.min_free (once each time)."
    )
    plex_status: bool = Field(True, description="Plex goes down or comes back.")
    sweep_summary: bool = Field(False, description="The result of each sweep.")


class NotificationsConfig(StrictModel):
    urls: list[SecretStr] = Field(
        default_factory=list,
        description="apprise URLs, e.g. discord://id/token or ntfy://host/topic.",
    )
    events: NotificationEvents = Field(
        default_factory=NotificationEvents,
        description="Which events are sent.",
    )
    batch_window_s: float = Field(
        30.0, ge=0, le=3600, description="Events within this window go out as one message."
    )


class UserPolicy(StrictModel):
    enabled: bool = Field(True, description="Cache for this user at all.")
    ondeck: bool = Field(True, description="Cache the user's on-deck items.")
    watchlist: bool = Field(True, description="Cache the user's watchlist.")
    lists: bool = Field(True, description="Import lists count for this user.")
    episodes_ahead: int | None = Field(
        None, ge=0, le=100, description="Episodes ahead for this user; unset uses cache."
    )
    days_to_monitor: int = Field(
        30, ge=0, description="On-deck items untouched for longer are ignored; 0 means never."
    )
    watchlist_retention_days: float = Field(
        14.0, ge=0, description="Days a watchlist item stays cached; 0 means while listed."
    )
    priority_boost: int = Field(0, ge=-100, le=100, description="Added to this user's priority.")


class UserOverride(StrictModel):
    enabled: bool | None = Field(None, description="Overrides enabled.")
    ondeck: bool | None = Field(None, description="Overrides ondeck.")
    watchlist: bool | None = Field(None, description="Overrides watchlist.")
    lists: bool | None = Field(None, description="Overrides lists.")
    episodes_ahead: int | None = Field(None, ge=0, le=100, description="Overrides episodes_ahead.")
    days_to_monitor: int | None = Field(None, ge=0, description="Overrides days_to_monitor.")
    watchlist_retention_days: float | None = Field(
        None, ge=0, description="Overrides watchlist_retention_days."
    )
    priority_boost: int | None = Field(
        None, ge=-100, le=100, description="Overrides priority_boost."
    )


class UsersConfig(StrictModel):
    main: UserPolicy = Field(
        default_factory=UserPolicy,
        description="Defaults for the server owner.",
    )
    home: UserPolicy = Field(
        default_factory=UserPolicy,
        description="Defaults for home and managed users.",
    )
    shared: UserPolicy = Field(
        default_factory=lambda: UserPolicy(watchlist=False, lists=False),
        description="Defaults for users the server is shared with.",
    )
    inactive_days: int = Field(
        0, ge=0, description="Skip users who played nothing for this many days; 0 never skips."
    )
    overrides: dict[str, UserOverride] = Field(
        default_factory=dict, description="Per-user settings by Plex username."
    )


class ImportList(StrictModel):
    name: str = Field(..., min_length=1, description="Name shown on the page.")
    enabled: bool = Field(True, description="Fetch and use this list.")
    provider: Literal["trakt", "tmdb", "imdb", "rss", "url"] = Field(
        ..., description="Where the list comes from."
    )
    source: str = Field(
        ...,
        min_length=1,
        description="What to fetch: e.g. 'user/slug', 'watchlist/user', 'trending/movies', a "
        "TMDb list id, an IMDb ls…/ur… id or a URL.",
    )
    max_items: int = Field(50, ge=1, le=10_000, description="Most items taken from the list.")
    mode: Literal["strict", "fill"] = Field(
        "strict",
        description="strict: cache matched items in list order; fill: only in space left over.",
    )
    fill_limit: SizeText | None = Field(None, description="Most space a fill list may use.")
    released_within_days: int | None = Field(
        None, ge=1, description="Only items released within this many days."
    )
    episodes_per_show: int = Field(
        1, ge=0, le=100, description="A show contributes its first N unwatched episodes."
    )
    priority: int = Field(0, ge=-100, le=100, description="Added to the priority of its items.")
    refresh_interval_s: int = Field(21600, ge=300, description="Seconds between fetches.")
    users: list[str] = Field(
        default_factory=list,
        description="Users whose watch state counts for 'unwatched'; empty means the owner.",
    )
    title_fallback: bool = Field(
        False, description="Match by title and year when no id matches (flagged)."
    )


class ListsConfig(StrictModel):
    trakt_client_id: SecretStr | None = Field(None, description="Trakt API client id.")
    tmdb_api_key: SecretStr | None = Field(None, description="TMDb v3 API key or v4 read token.")
    trakt_url: str = Field("https://api.trakt.tv", description="Base URL of Trakt's API.")
    tmdb_url: str = Field("https://api.themoviedb.org", description="Base URL of TMDb's API.")
    imdb_url: str = Field("https://www.imdb.com", description="Base URL of IMDb's exports.")
    definitions: list[ImportList] = Field(default_factory=list, description="The import lists.")

    @model_validator(mode="after")
    def _unique_names(self) -> ListsConfig:
        names = [d.name for d in self.definitions]
        if len(names) != len(set(names)):
            raise ValueError("list names must be unique")
        return self


class MoverConfig(StrictModel):
    exclude_file: str | None = Field(
        "mover_exclude.txt",
        description="File the Mover Tuning plugin reads (host cache paths, one per line); "
        "relative to the config folder; unset to not write one.",
    )
    pid_file: str = Field(
        "/var/run/mover.pid",
        description="While this file exists no new operation starts. In a container the "
        "default is read in /host/run, the host's /var/run mounted read-only.",
    )


class Settings(BaseSettings):
    """The whole of `cacherr.json`. Environment overrides are layered on by the store."""

    model_config = SettingsConfigDict(
        extra="forbid",
        validate_default=True,
        env_prefix="CACHERR_",
        env_nested_delimiter="__",
        case_sensitive=False,
    )

    schema_version: int = Field(SCHEMA_VERSION, description="Version of this file's layout.")
    general: GeneralConfig = Field(default_factory=GeneralConfig, description="Daemon.")
    plex: PlexConfig = Field(default_factory=PlexConfig, description="Plex connection.")
    paths: PathsConfig = Field(default_factory=PathsConfig, description="Path mappings.")
    cache: CacheConfig = Field(default_factory=CacheConfig, description="What and how to cache.")
    retention: RetentionConfig = Field(
        default_factory=RetentionConfig,
        description="When files go back.",
    )
    watchlist: WatchlistConfig = Field(
        default_factory=WatchlistConfig,
        description="Watchlists.",
    )
    sweep: SweepConfig = Field(default_factory=SweepConfig, description="Reconcile sweep.")
    sessions: SessionsConfig = Field(
        default_factory=SessionsConfig,
        description="Session polling.",
    )
    webhook: WebhookConfig = Field(default_factory=WebhookConfig, description="Webhooks.")
    web: WebConfig = Field(default_factory=WebConfig, description="Page, API and login.")
    notifications: NotificationsConfig = Field(
        default_factory=NotificationsConfig,
        description="apprise notifications.",
    )
    users: UsersConfig = Field(default_factory=UsersConfig, description="Per-user settings.")
    lists: ListsConfig = Field(default_factory=ListsConfig, description="Import lists.")
    mover: MoverConfig = Field(default_factory=MoverConfig, description="Unraid mover.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The store merges file and environment itself so it knows which value came from
        # where (the page shows env-locked fields and saves only the file's layer).
        return (init_settings,)
