"""`cacherr check` and the start-up checks: one ✓/✗ line each, with a one-sentence fix.

Checks marked `fatal` guard against data loss (an array root that is a union including the
pool, a cache folder inside the container's own file system); the daemon refuses to start
on them. The rest are reported and the daemon carries on.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from cacherr.config.models import Mapping, Settings, parse_size
from cacherr.db import DB_NAME
from cacherr.errors import CacherrError, Problem
from cacherr.events import EventBus
from cacherr.files import access, audit
from cacherr.files.disks import array_disks, union_share_path
from cacherr.files.mover import (
    HOST_RUN,
    exclude_file_path,
    host_cache_root,
    host_pool_from_env,
    mover_pid_file,
)
from cacherr.files.paths import (
    UNION_FIX,
    MappingProblem,
    PathResolver,
    check_mappings,
    is_within,
    missing_share_folders,
    refused_mappings,
)
from cacherr.plex.gateway import PlexGateway
from cacherr.plex.status import PlexStatus
from cacherr.security import setup_code


@dataclass(frozen=True)
class Check:
    """One line of the report."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    fatal: bool = False

    def line(self) -> str:
        """`✓ name: detail` or `✗ name: detail — fix`."""
        mark = "✓" if self.ok else "✗"
        text = f"{mark} {self.name}: {self.detail}"
        return text if self.ok or not self.fix else f"{text}\n    fix: {self.fix}"


NO_MAPPINGS = Check(
    "path mappings",
    False,
    "no mapping is configured, so nothing can be cached",
    "add paths.mappings entries {name, plex, array, cache} in Settings",
)
PLEX_NOT_CONFIGURED = Check(
    "plex",
    False,
    "Plex is not configured",
    "set plex.url and plex.token (Settings → Plex)",
)

_SAME_FILES = "are the same folder"
_NESTED = "lies inside"


def in_image() -> bool:
    """Whether Cacherr runs in its own container image (its Dockerfile sets CACHERR_IMAGE)."""
    return os.environ.get("CACHERR_IMAGE") == "1"


def check_paths(
    settings: Settings,
    *,
    probe: bool = True,
    container: bool | None = None,
    problems: list[Problem] | None = None,
) -> list[Check]:
    """Mappings exist, are not unions of the pool, and the cache is a real mount; the array
    works for the daemon's user and the mover list names the host's pool. Blocking.

    `container` says whether to require the cache to be mounted from outside the container
    (default: when running in Cacherr's image). `problems` are `check_mappings`'s answer
    when the caller already has it.
    """
    container = in_image() if container is None else container
    mappings = settings.paths.mappings
    if not mappings:
        return [NO_MAPPINGS]
    if problems is None:
        problems = check_mappings(mappings, probe=probe)
    refused = refused_mappings(problems)
    by_name = {m.name: m for m in mappings}
    creatable = {
        p for p in problems
        if isinstance(p, MappingProblem) and p.path.endswith(".cache")
        and missing_share_folders(by_name[p.mapping])
    }  # fmt: skip
    results = [
        Check(
            f"mapping {p.mapping}",
            True,
            f"{by_name[p.mapping].cache} is not on the pool yet (nothing of the share is "
            "there): start-up creates it with the owner and mode of the array's folder",
        )
        for p in creatable
    ]
    results += [
        Check(
            f"mapping {p.path}",
            False,
            p.message,
            "correct the mapping's folders; see the README's path mapping examples",
            # Copying between two names of one file truncates or hides it.
            fatal=UNION_FIX in p.message or _SAME_FILES in p.message or _NESTED in p.message,
        )
        for p in problems
        if p not in creatable
    ]
    for mapping in mappings:
        if mapping.name in refused:
            continue
        results.append(Check(f"mapping {mapping.name}", True, f"{mapping.array} ⇄ {mapping.cache}"))
        if mapping.cacheable:
            results.extend(_cache_root_checks(mapping, settings, container=container))
            results.extend(check_array_access(mapping))
    results.extend(check_host_pool(settings))
    return results


# --- the array as the daemon's user ----------------------------------------------------


def _give_share(me: str) -> str:
    if me == "99:100":
        return "give the share to 99:100 (Tools → New Permissions on it)"
    return f"give the share to {me} (chown -R {me} on it)"


def check_array_access(mapping: Mapping) -> list[Check]:
    """As the user the daemon runs as: renames work in the array's folders (sampled), and a
    cache copy can keep its original's owner. Blocking; writes nothing."""
    root = Path(mapping.array)
    folders, files = access.sample(root)
    uid, gid = os.geteuid(), os.getegid()
    me = f"{uid}:{gid}"
    stuck = [folder for folder in folders if not access.can_rename_in(folder, uid)]
    where = stuck[0] if stuck else root
    results = [
        Check(
            f"renames in the array of {mapping.name}",
            not stuck,
            f"{me} can rename in the {len(folders)} sampled folders of {root}"
            if not stuck
            else f"{me} cannot rename in {stuck[0]}"
            + (f" (and {len(stuck) - 1} more sampled folders)" if len(stuck) > 1 else "")
            + ", so nothing there can be cached",
            f"{_give_share(me)}, or set PUID/PGID to the owner of {where} "
            f"({access.owner_of(where)})",
        )
    ]
    if access.can_chown():
        return results
    groups = {gid, *os.getgroups()}
    foreign = [
        (st.st_uid, st.st_gid) for st in files if st.st_uid != uid or st.st_gid not in groups
    ]
    owner = max(set(foreign), key=foreign.count) if foreign else (uid, gid)
    results.append(
        Check(
            f"owners in the array of {mapping.name}",
            not foreign,
            f"the {len(files)} sampled files belong to {me}, as their cache copies will"
            if not foreign
            else f"{len(foreign)} of {len(files)} sampled files belong to {owner[0]}:{owner[1]}, "
            f"but {me} cannot give a copy away, so their cache copies would belong to {me}",
            f"set PUID/PGID to {owner[0]}:{owner[1]}, the media's owner, or {_give_share(me)}",
        )
    )
    return results


def _cache_root_checks(mapping: Mapping, settings: Settings, *, container: bool) -> list[Check]:
    cache = Path(mapping.cache)
    name = f"cache of {mapping.name}"
    results: list[Check] = []
    if container and os.stat(cache).st_dev == os.stat("/").st_dev:
        results.append(
            Check(
                name,
                False,
                f"{cache} is on the container's own file system, not the pool",
                "bind-mount the pool into the container (e.g. -v /mnt/cache:/mnt/cache)",
                fatal=True,
            )
        )
    if not os.access(cache, os.W_OK):
        results.append(
            Check(
                name,
                False,
                f"{cache} is not writable by uid {os.getuid()}",
                "give PUID/PGID write access to the pool share",
            )
        )
    else:
        results.append(
            Check(
                f"temp files of {mapping.name}",
                True,
                "temp copies are written beside their final name, so renames stay atomic",
            )
        )
    vfs = os.statvfs(cache)
    total, free = vfs.f_blocks * vfs.f_frsize, vfs.f_bavail * vfs.f_frsize
    min_free = parse_size(settings.cache.min_free, total)
    gib = 2**30
    results.append(
        Check(
            f"free space of {mapping.name}",
            free > min_free,
            f"{free / gib:.1f} GiB free of {total / gib:.1f} GiB "
            f"(keeping {min_free / gib:.1f} GiB)",
            "free space on the pool or lower cache.min_free",
        )
    )
    array = mapping.array
    if array.startswith("/mnt/user0") and not Path("/mnt/user0").exists():
        results.append(
            Check(
                f"array of {mapping.name}",
                False,
                "/mnt/user0 does not exist on this server",
                "use the disk-level path (/mnt/diskN/<share>) for array",
            )
        )
    return results


def check_mover(settings: Settings, config_dir: Path) -> list[Check]:
    """The exclusion file can be written where the Mover Tuning plugin is told to read it."""
    path = exclude_file_path(settings.mover, config_dir)
    if path is None:
        return [
            Check(
                "mover exclusion file",
                False,
                "mover.exclude_file is unset, so the mover may move cached files back",
                "set mover.exclude_file and point Mover Tuning's ignore list at it",
            )
        ]
    folder_ok = path.parent.is_dir() and os.access(path.parent, os.W_OK)
    return [
        Check(
            "mover exclusion file",
            folder_ok,
            f"{path} ({'writable' if folder_ok else 'its folder is missing or read-only'}); "
            "Mover Tuning must list this file (host path) and the built-in mover must not run "
            "on its own schedule (Unraid 7.2.1+)",
            "create the folder or choose another mover.exclude_file",
        )
    ]


def check_mover_pid(
    settings: Settings, *, container: bool | None = None, host_run: Path = HOST_RUN
) -> list[Check]:
    """The mover's pid file is read where the host's mover writes it."""
    container = in_image() if container is None else container
    pid_file = mover_pid_file(settings.mover, host_run)
    seen = pid_file.parent.is_dir()
    if seen and container:  # the container's own /var/run never holds the host's mover.pid
        seen = os.stat(pid_file.parent).st_dev != os.stat("/").st_dev
    return [
        Check(
            "mover pid file",
            seen,
            f"{pid_file}: the mover {'runs' if pid_file.exists() else 'does not run'}"
            if seen
            else f"{pid_file} is the container's own, so a running mover goes unnoticed",
            f"map the host's /var/run read-only to {host_run} (-v /var/run:{host_run}:ro)",
        )
    ]


def check_array_disks(settings: Settings) -> list[Check]:
    """Whether the per-disk limits can tell which array disk a copy from the union
    (/mnt/user0) reads: some `diskN` under `cache.disks_root`. Blocking."""
    cache = settings.cache
    unions = [
        m for m in settings.paths.mappings
        if m.cacheable and union_share_path(str(PurePosixPath(m.array, "f")), cache.disks_root)
    ]  # fmt: skip
    if not (cache.copies_per_disk or cache.disk_limit_mib_s) or not unions:
        return []
    disks = array_disks(cache.disks_root)
    copies = "one copy" if cache.copies_per_disk == 1 else f"{cache.copies_per_disk} copies"
    limits = [f"{copies} per disk at a time"] if cache.copies_per_disk else []
    limits += (
        [f"at most {cache.disk_limit_mib_s:g} MiB/s per disk"] if cache.disk_limit_mib_s else []
    )
    if len(disks) > 2 and int(disks[-1][4:]) - int(disks[0][4:]) == len(disks) - 1:
        names = f"{disks[0]}–{disks[-1]}"
    else:
        names = ", ".join(disks)
    return [
        Check(
            "array disks",
            bool(disks),
            f"{names} found under {cache.disks_root}; {', '.join(limits)}"
            if disks
            else f"no diskN under {cache.disks_root}, so copies from {unions[0].array} cannot "
            "be told apart by disk and each counts as its own: two may read the disk a stream "
            "reads",
            "map the host's /mnt read-only to /host/mnt and set cache.disks_root to /host/mnt, "
            "as the template does (-v /mnt:/host/mnt:ro -e CACHERR_CACHE__DISKS_ROOT=/host/mnt)",
        )
    ]


def check_host_pool(settings: Settings, pool: str | None = None) -> list[Check]:
    """Each cached file's exclusion line names the host's pool (`pool`, default HOST_POOL):
    a `host_cache` off that pool lets the mover move the cached files back."""
    pool = host_pool_from_env() if pool is None else pool
    if not pool:
        return []
    pool = "/" + pool.strip("/")
    results = []
    for mapping in settings.paths.mappings:
        if not mapping.cacheable:
            continue
        listed = host_cache_root(mapping, pool)
        ok = is_within(listed, pool)
        results.append(
            Check(
                f"mover paths of {mapping.name}",
                ok,
                f"the exclusion list names {listed}/…"
                + ("" if ok else f", which is not on the host's pool {pool}"),
                f"unset host_cache of mapping {mapping.name!r}, or set it to its folder on "
                f"{pool}; the cache folder must be on the pool mounted in the container",
            )
        )
    return results


def check_audit(settings: Settings, db_path: Path | None = None) -> list[Check]:
    """Duplicates, orphaned backups and stray temp files already on disk. Blocking.

    The files the database at `db_path` records (managed, or in an unfinished operation)
    are Cacherr's own and left out, as the API's audit leaves them out.
    """
    mappings = [m for m in settings.paths.mappings if m.cacheable]
    if not mappings:
        return []
    try:
        recorded = audit.read_recorded(db_path) if db_path is not None else audit.Recorded()
    except sqlite3.Error as exc:
        return [
            Check(
                "audit",
                False,
                f"cannot read {db_path}: {exc}",
                "check the config folder's permissions; the daemon reports a damaged database",
            )
        ]
    report = audit.scan(
        PathResolver(mappings),
        managed=recorded.managed,
        busy=recorded.busy,
        active_temps=recorded.temps,
    )
    counts = {k: v for k, v in report.counts().items() if v}
    if not counts:
        return [Check("audit", True, f"{report.files_scanned} files, nothing out of place")]
    found = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in sorted(counts.items()))
    return [
        Check(
            "audit",
            False,
            found,
            "open Maintenance on the page to review and fix them",
        )
    ]


async def check_plex(settings: Settings, timeout_s: float = 15.0) -> list[Check]:
    """Plex and plex.tv answer with the configured token."""
    plex = settings.plex
    if not plex.url or plex.token is None:
        return [PLEX_NOT_CONFIGURED]
    gateway = PlexGateway(lambda: plex, PlexStatus("connecting"), EventBus(), probe_max_s=5.0)
    await gateway.start()
    try:
        try:
            state = await gateway.wait_settled(timeout_s)
        except TimeoutError:
            state = "down"
        status = gateway.status
        results = [
            Check(
                "plex",
                state == "connected",
                f"{plex.url}: {state}" + (f" ({status.message})" if status.message else ""),
                "check plex.url and plex.token, and that Plex is running",
            )
        ]
        try:
            username = await asyncio.wait_for(
                gateway.run_plextv(lambda account: str(account.username)), timeout_s
            )
            results.append(Check("plex.tv", True, f"signed in as {username}"))
        except (CacherrError, TimeoutError) as exc:
            results.append(
                Check(
                    "plex.tv",
                    False,
                    f"{plex.plextv_url} did not accept the token: {exc}",
                    "check the token and the server's internet access",
                )
            )
        return results
    finally:
        await gateway.close()


def check_login(settings: Settings, config_dir: Path) -> list[Check]:
    """Whether the page's login exists; before it does, the one-time set-up code. Blocking."""
    web = settings.web
    if not setup_code.setup_required(web):
        who = f"set for {web.username}" if web.auth == "forms" else "off (web.auth = none)"
        return [Check("login", True, who)]
    code = setup_code.read(config_dir)
    if code is None:
        return [
            Check(
                "login",
                False,
                "not created yet, and no set-up code has been made",
                "start Cacherr: it prints the set-up code that the first visit asks for",
            )
        ]
    return [
        Check(
            "login",
            False,
            f"not created yet; the set-up code is {code}",
            "open the page and create the login with this code",
        )
    ]


async def run_checks(settings: Settings, config_dir: Path, *, plex: bool = True) -> list[Check]:
    """Every check, the blocking ones off the event loop."""
    results = await asyncio.to_thread(check_paths, settings)
    results += await asyncio.to_thread(check_mover, settings, config_dir)
    results += await asyncio.to_thread(check_mover_pid, settings)
    results += await asyncio.to_thread(check_array_disks, settings)
    results += await asyncio.to_thread(check_audit, settings, config_dir / DB_NAME)
    if plex:
        results += await check_plex(settings)
    results += await asyncio.to_thread(check_login, settings, config_dir)
    return results


def fatal(results: Iterable[Check]) -> list[Check]:
    """The failed checks the daemon must not start with."""
    return [c for c in results if not c.ok and c.fatal]


def refused_mapping_change(in_force: Settings, new: Settings) -> list[Problem]:
    """Start-up's refusals for new path mappings (a settings save or a hot reload): the
    daemon must not run, from now or from its next start, on a set-up that loses data.

    Blocking, like start-up's checks; only a change of `paths.mappings` is checked.
    """
    if new.paths.mappings == in_force.paths.mappings:
        return []
    problems = []
    for check in fatal(check_paths(new)):
        where = check.name.removeprefix("mapping ")
        path = where if where.startswith("paths.") else "paths.mappings"
        problems.append(
            Problem(path, f"{check.detail}; {check.fix}" if check.fix else check.detail)
        )
    return problems
