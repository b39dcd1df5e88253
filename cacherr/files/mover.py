"""Living with Unraid's mover: its ignore list of cached files, and waiting while it runs.

The CA Mover Tuning plugin skips every host pool path listed in a text file, one per line.
Cacherr owns the part of that file below a marker line and keeps whatever a person wrote
above it. While the mover runs (its pid file names a live process) no operation starts.

In a container the host's `/var/run` is mounted read-only at `/host/run` (the Unraid
template does so): the mover's pid file is read there, and since the host's pid is not
visible from the container's pid namespace, the file's existence alone counts. The
template also passes the pool's host path (HOST_POOL): the list names the host's pool even
when the container mounts it at /mnt/cache.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import posixpath
from collections.abc import Iterable
from pathlib import Path

from cacherr.atomic import atomic_write_text
from cacherr.config.models import Mapping, MoverConfig
from cacherr.files.paths import Location, Placed

log = logging.getLogger(__name__)

MARKER = "# --- Cacherr managed below this line; edit above it ---"
# Where the Unraid template mounts the host's /var/run (read-only) inside the container.
HOST_RUN = Path("/host/run")
# The pool's folder on the host (e.g. /mnt/nvme), as the Unraid template passes it.
HOST_POOL_ENV = "HOST_POOL"
DEFAULT_PID_FILE: str = MoverConfig.model_fields["pid_file"].default


def exclude_file_path(config: MoverConfig, config_dir: Path) -> Path | None:
    """Where the ignore list lives: `exclude_file` relative to the config folder, or None."""
    if not config.exclude_file:
        return None
    return config_dir / config.exclude_file  # an absolute exclude_file replaces config_dir


def render_exclusions(existing: str, host_paths: Iterable[str]) -> str:
    """The file's new text: the lines a person wrote above the marker, then Cacherr's list."""
    # Split on "\n" only, as the mover does; a "\r" of a file edited on Windows stays put.
    lines = existing.split("\n")
    if lines[-1] == "":
        lines.pop()
    marker = next((i for i, line in enumerate(lines) if line.rstrip("\r") == MARKER), None)
    # Without a marker every line is someone else's (e.g. an older tool's list): keep them.
    user_lines = lines if marker is None else lines[:marker]
    ours = sorted({path.rstrip("/") or "/" for path in host_paths})
    return "\n".join([*user_lines, MARKER, *ours]) + "\n"


def host_pool_from_env() -> str | None:
    """The pool's host path the container was given (HOST_POOL), or None."""
    return os.environ.get(HOST_POOL_ENV) or None


def host_cache_root(mapping: Mapping, host_pool: str | None) -> str:
    """The mapping's cache folder as the Unraid host sees it: its `host_cache` if set; else,
    with the host's pool path, the cache folder's `/mnt/<pool>` part replaced by it (a pool
    named nvme mounted at /mnt/cache); else the cache folder itself."""
    if mapping.host_cache is not None:
        return mapping.host_cache
    parts = Path(mapping.cache).parts
    if not host_pool or "mnt" not in parts[:-1]:
        return mapping.cache
    rest = parts[parts.index("mnt") + 2 :]
    return posixpath.join("/" + host_pool.strip("/"), *rest)


class MoverExclusion:
    """Keeps the mover's ignore list equal to the cached files (and their sidecars)."""

    def __init__(self, path: Path | None, *, host_pool: str | None = None) -> None:
        self.path = path
        self.host_pool = host_pool
        self._lock = asyncio.Lock()

    @classmethod
    def from_config(
        cls, config: MoverConfig, config_dir: Path, *, host_pool: str | None = None
    ) -> MoverExclusion:
        """The exclusion file the settings ask for (a no-op when `exclude_file` is unset),
        naming files on `host_pool` (default: HOST_POOL from the environment)."""
        pool = host_pool if host_pool is not None else host_pool_from_env()
        return cls(exclude_file_path(config, config_dir), host_pool=pool)

    async def refresh(self, locations: Iterable[Location | Placed]) -> None:
        """Rewrite the list for these cached files, atomically and only if it changes.

        Pass every cached file, sidecars included: the list is replaced, not appended to.
        `locations` is gone through on a worker thread (a generator too): a list of
        thousands of files is text work that the event loop need not wait for.
        """
        if self.path is None:
            return
        async with self._lock:  # two refreshes must not interleave their read and write
            await asyncio.to_thread(self._write, self.path, self.host_pool, locations)

    @staticmethod
    def _write(path: Path, host_pool: str | None, locations: Iterable[Location | Placed]) -> bool:
        roots: dict[str, str] = {}  # by mapping name: each mapping's host folder once
        host_paths = []
        for location in locations:
            mapping = location.mapping
            root = roots.get(mapping.name)
            if root is None:
                root = roots[mapping.name] = host_cache_root(mapping, host_pool)
            host_paths.append(posixpath.join(root, location.rel))
        try:
            existing = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            existing = ""
        text = render_exclusions(existing, host_paths)
        if text == existing:
            return False
        atomic_write_text(path, text)
        log.debug("Mover exclusion file %s now lists %d files", path, len(host_paths))
        return True


class MoverGuard:
    """Tells whether Unraid's mover runs, and waits until it does not.

    Running means: the pid file exists and names a live process. A file naming a dead
    process is stale (the mover crashed) and ignored; one that cannot be read as a pid
    counts as running, like the mover setting says. Inside a container that does not share
    the host's pid namespace the host's pid is invisible: pass `trust_pid=False` there so
    the file's existence alone counts.
    """

    def __init__(
        self,
        pid_file: Path | str,
        *,
        poll_interval_s: float = 5.0,
        trust_pid: bool = True,
        stale_warning_s: float = 6 * 3600,
    ) -> None:
        self.pid_file = Path(pid_file)
        self.poll_interval_s = poll_interval_s
        self.trust_pid = trust_pid
        # An untrusted pid file left by a crashed mover would hold operations until the
        # host reboots (its /var/run is a tmpfs): after this long waiting, say how to end it.
        self.stale_warning_s = stale_warning_s

    @classmethod
    def from_config(
        cls, config: MoverConfig, *, poll_interval_s: float = 5.0, host_run: Path = HOST_RUN
    ) -> MoverGuard:
        """The guard for the settings' `pid_file`, read where the mover really writes it.

        The default `/var/run/mover.pid` is read under `host_run` when that folder exists
        (the host's run folder mounted into the container). A pid file outside this
        system's own run folder comes from another pid namespace: its pid is not checked.
        """
        pid_file = mover_pid_file(config, host_run)
        return cls(pid_file, poll_interval_s=poll_interval_s, trust_pid=_in_own_run(pid_file))

    def is_running(self) -> bool:
        """Whether the mover runs now (reads one small file: blocking, but briefly)."""
        try:
            text = self.pid_file.read_text(encoding="ascii", errors="replace")
        except FileNotFoundError:
            return False
        except OSError:
            return True  # it exists but cannot be read: assume the worst
        if not self.trust_pid:
            return True
        try:
            pid = int(text.split()[0])
        except (IndexError, ValueError):
            return True
        return pid > 0 and _alive(pid)

    async def wait_until_idle(self) -> None:
        """Return once the mover is not running, polling its pid file off the event loop."""
        waited, polls = False, 0
        warn_after = max(1, math.ceil(self.stale_warning_s / self.poll_interval_s))
        while await asyncio.to_thread(self.is_running):
            if not waited:
                log.info("Unraid's mover is running; file operations wait until it ends")
                waited = True
            polls += 1
            if not self.trust_pid and polls == warn_after:
                log.warning(
                    "File operations have waited %.1f h for Unraid's mover (%s exists). If "
                    "the mover is not running (Main → Array Operation), it crashed: delete "
                    "/var/run/mover.pid on the host and Cacherr carries on",
                    self.stale_warning_s / 3600,
                    self.pid_file,
                )
            await asyncio.sleep(self.poll_interval_s)
        if waited:
            log.info("Unraid's mover has finished; file operations resume")


def mover_pid_file(config: MoverConfig, host_run: Path = HOST_RUN) -> Path:
    """The pid file to watch: the default one under the host's mounted run folder if any."""
    if config.pid_file == DEFAULT_PID_FILE and host_run.is_dir():
        return host_run / Path(DEFAULT_PID_FILE).name
    return Path(config.pid_file)


def _in_own_run(pid_file: Path) -> bool:
    own = {os.path.realpath(folder) for folder in ("/run", "/var/run")}
    return os.path.realpath(pid_file.parent) in own


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    except OverflowError:
        return False
    return True
