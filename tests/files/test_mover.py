"""The mover's ignore list and pid file, on real files."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cacherr.config.models import Mapping, MoverConfig
from cacherr.files.mover import (
    MARKER,
    MoverExclusion,
    MoverGuard,
    exclude_file_path,
    render_exclusions,
)
from cacherr.files.paths import Location, PathResolver
from tests.waiting import until


@pytest.fixture
def resolver(tmp_path: Path) -> PathResolver:
    cache = tmp_path / "cache" / "tv"
    array = tmp_path / "array" / "tv"
    cache.mkdir(parents=True)
    array.mkdir(parents=True)
    tv = Mapping(name="tv", plex="/data/tv", array=str(array), cache=str(cache),
                 host_cache="/mnt/cache/media/tv")  # fmt: skip
    movies = Mapping(name="movies", plex="/data/movies", array=str(array), cache=str(cache))
    return PathResolver([tv, movies])


def locations(resolver: PathResolver, *paths: str) -> list[Location]:
    return [resolver.from_plex(p) for p in paths]


def test_exclude_file_path(tmp_path: Path) -> None:
    assert exclude_file_path(MoverConfig(), tmp_path) == tmp_path / "mover_exclude.txt"
    assert exclude_file_path(MoverConfig(exclude_file="/boot/x.txt"), tmp_path) == Path(
        "/boot/x.txt"
    )
    assert exclude_file_path(MoverConfig(exclude_file=None), tmp_path) is None


async def test_refresh_writes_sorted_host_paths(tmp_path: Path, resolver: PathResolver) -> None:
    exclusion = MoverExclusion.from_config(MoverConfig(), tmp_path)
    locs = locations(
        resolver,
        "/data/tv/B/b.mkv",
        "/data/tv/A/a.en.srt",
        "/data/tv/A/a.mkv",
        "/data/movies/M.mkv",
        "/data/tv/A/a.mkv",
    )
    await exclusion.refresh(locs)
    text = (tmp_path / "mover_exclude.txt").read_text()
    assert text.splitlines() == [
        MARKER,
        "/mnt/cache/media/tv/A/a.en.srt",
        "/mnt/cache/media/tv/A/a.mkv",
        "/mnt/cache/media/tv/B/b.mkv",
        str(tmp_path / "cache" / "tv" / "M.mkv"),
    ]
    assert text.endswith("\n")


async def test_user_lines_above_the_marker_survive(tmp_path: Path, resolver: PathResolver) -> None:
    path = tmp_path / "exclude.txt"
    path.write_text(f"/mnt/cache/appdata\n# mine\n{MARKER}\n/mnt/cache/media/tv/old.mkv\n")
    await MoverExclusion(path).refresh(locations(resolver, "/data/tv/new.mkv"))
    assert path.read_text() == (
        f"/mnt/cache/appdata\n# mine\n{MARKER}\n/mnt/cache/media/tv/new.mkv\n"
    )
    await MoverExclusion(path).refresh([])
    assert path.read_text() == f"/mnt/cache/appdata\n# mine\n{MARKER}\n"


async def test_a_file_without_marker_is_kept_whole(tmp_path: Path) -> None:
    path = tmp_path / "exclude.txt"
    path.write_text("/mnt/cache/media/tv/from-an-older-tool.mkv\n")
    await MoverExclusion(path).refresh([])
    assert path.read_text() == f"/mnt/cache/media/tv/from-an-older-tool.mkv\n{MARKER}\n"


async def test_unchanged_content_is_not_rewritten(tmp_path: Path, resolver: PathResolver) -> None:
    path = tmp_path / "exclude.txt"
    exclusion = MoverExclusion(path)
    locs = locations(resolver, "/data/tv/a.mkv")
    await exclusion.refresh(locs)
    os.utime(path, ns=(1, 1))
    inode = path.stat().st_ino
    await exclusion.refresh(locs)
    assert (path.stat().st_mtime_ns, path.stat().st_ino) == (1, inode)
    await exclusion.refresh(locations(resolver, "/data/tv/b.mkv"))
    assert path.stat().st_mtime_ns != 1


async def test_concurrent_refreshes_leave_one_whole_file(
    tmp_path: Path, resolver: PathResolver
) -> None:
    path = tmp_path / "exclude.txt"
    exclusion = MoverExclusion(path)
    batches = [locations(resolver, f"/data/tv/{i}.mkv") for i in range(10)]
    await asyncio.gather(*(exclusion.refresh(batch) for batch in batches))
    lines = path.read_text().splitlines()
    assert len(lines) == 2
    assert lines[0] == MARKER
    assert sorted(os.listdir(tmp_path)) == ["array", "cache", "exclude.txt"]


async def test_no_file_configured_is_a_no_op(tmp_path: Path, resolver: PathResolver) -> None:
    await MoverExclusion(None).refresh(locations(resolver, "/data/tv/a.mkv"))
    assert sorted(os.listdir(tmp_path)) == ["array", "cache"]


def test_render_splits_on_newlines_only() -> None:
    existing = f"C:\\odd\r\n/keep\u2028me\n{MARKER}\r\n/old\n"
    assert render_exclusions(existing, ["/new"]) == f"C:\\odd\r\n/keep\u2028me\n{MARKER}\n/new\n"


def test_render_strips_trailing_slashes() -> None:
    assert render_exclusions("", ["/mnt/cache/x/", "/"]) == f"{MARKER}\n/\n/mnt/cache/x\n"


def dead_pid() -> int:
    # Above the kernel's pid_max no process can exist.
    return int(Path("/proc/sys/kernel/pid_max").read_text()) + 1


@pytest.mark.parametrize(
    ("content", "running"),
    [
        (None, False),
        (f"{os.getpid()}\n", True),
        (f"{os.getpid()} extra\n", True),
        (f"{dead_pid()}\n", False),
        ("999999999999999999999999\n", False),
        ("0\n", False),
        ("-5\n", False),
        ("", True),
        ("not a pid", True),
    ],
)
def test_is_running(tmp_path: Path, content: str | None, running: bool) -> None:
    pid_file = tmp_path / "mover.pid"
    if content is not None:
        pid_file.write_text(content)
    assert MoverGuard(pid_file).is_running() is running


def test_a_pid_of_another_user_counts_as_alive(tmp_path: Path) -> None:
    pid_file = tmp_path / "mover.pid"
    pid_file.write_text("1\n")  # init: alive, and unsignalable unless we are root
    assert MoverGuard(pid_file).is_running()


def test_unreadable_pid_file_counts_as_running(tmp_path: Path) -> None:
    (tmp_path / "mover.pid").mkdir()  # exists, cannot be read as a file
    assert MoverGuard(tmp_path / "mover.pid").is_running()


def test_untrusted_pid_means_existence_alone(tmp_path: Path) -> None:
    pid_file = tmp_path / "mover.pid"
    pid_file.write_text(f"{dead_pid()}\n")
    assert MoverGuard(pid_file, trust_pid=False).is_running()


def test_without_the_hosts_run_folder_the_own_movers_pid_is_checked(tmp_path: Path) -> None:
    """Outside a container (no host run folder mounted) the mover's pid file is this
    system's own, so its pid can be checked: a file a dead mover left holds nothing."""
    guard = MoverGuard.from_config(MoverConfig(), host_run=tmp_path / "no")
    assert guard.pid_file == Path("/var/run/mover.pid")
    assert guard.trust_pid


def test_from_config_reads_the_hosts_run_folder_when_mounted(tmp_path: Path) -> None:
    guard = MoverGuard.from_config(MoverConfig(), host_run=tmp_path)
    assert guard.pid_file == tmp_path / "mover.pid"
    assert not guard.trust_pid
    custom = MoverGuard.from_config(MoverConfig(pid_file="/boot/m.pid"), host_run=tmp_path)
    assert custom.pid_file == Path("/boot/m.pid") and not custom.trust_pid


def _pid_namespaces_work() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = ["unshare", "--pid", "--fork", "--mount-proc", "true"]
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0


GUARD_IN_CONTAINER = """
import sys
from pathlib import Path
from cacherr.config.models import MoverConfig
from cacherr.files.mover import MoverGuard
print(MoverGuard.from_config(MoverConfig(), host_run=Path(sys.argv[1])).is_running())
"""


@pytest.mark.skipif(not _pid_namespaces_work(), reason="needs root and unshare --pid")
def test_the_pause_works_from_another_pid_namespace(tmp_path: Path) -> None:
    """Cacherr in a container (its own pid namespace, as Docker gives it) sees the host's
    mover pid file through the template's read-only mount of /var/run at /host/run, but not
    the host's process: the running mover must still pause it."""
    host_run = tmp_path / "host-run"
    host_run.mkdir()
    mover = subprocess.Popen(["sleep", "60"])  # the host's mover, live in our namespace
    try:
        (host_run / "mover.pid").write_text(f"{mover.pid}\n")

        def in_container() -> str:
            argv = ["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c"]
            done = subprocess.run(
                [*argv, GUARD_IN_CONTAINER, str(host_run)],
                capture_output=True, text=True, timeout=60, check=True,
            )  # fmt: skip
            return done.stdout.strip()

        assert in_container() == "True"
        (host_run / "mover.pid").unlink()  # the mover script removes it when done
        assert in_container() == "False"
    finally:
        mover.kill()
        mover.wait()


async def test_wait_until_idle(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    pid_file = tmp_path / "mover.pid"
    guard = MoverGuard(pid_file, poll_interval_s=0.01)
    await asyncio.wait_for(guard.wait_until_idle(), 1)  # not running: returns at once
    pid_file.write_text(f"{os.getpid()}\n")
    caplog.set_level("INFO", logger="cacherr.files.mover")
    waiter = asyncio.create_task(guard.wait_until_idle())
    await until(lambda: "mover is running" in caplog.text)
    assert not waiter.done()
    pid_file.unlink()
    await asyncio.wait_for(waiter, 1)
    assert "mover is running" in caplog.text
    assert "mover has finished" in caplog.text


async def test_a_pid_file_from_another_namespace_left_for_long_is_reported_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Its pid cannot be checked, so a file a crashed mover left would hold every operation
    until the host reboots: after `stale_warning_s` of waiting, say how to end it, once."""
    pid_file = tmp_path / "mover.pid"
    pid_file.write_text("4242\n")
    guard = MoverGuard(pid_file, poll_interval_s=0.01, trust_pid=False, stale_warning_s=0.03)
    caplog.set_level("INFO", logger="cacherr.files.mover")
    waiter = asyncio.create_task(guard.wait_until_idle())
    for _ in range(1000):  # polls up to a 10 s deadline
        if "crashed: delete /var/run/mover.pid" in caplog.text:
            break
        await asyncio.sleep(0.01)
    else:
        pytest.fail("no warning about the pid file")
    await asyncio.sleep(0.1)  # a few more polls: no second warning
    pid_file.unlink()
    await asyncio.wait_for(waiter, 5)
    assert caplog.text.count("crashed: delete") == 1


async def test_the_list_names_the_hosts_pool_given_by_the_template(tmp_path: Path) -> None:
    """A pool named nvme that the container mounts at /mnt/cache (the template's target):
    with HOST_POOL=/mnt/nvme every line names /mnt/nvme, which the host's mover matches; a
    mapping's own host_cache still wins."""
    mnt = tmp_path / "mnt"
    for folder in ("user0/media/tv", "cache/media/tv", "user0/media/films", "cache/media/films"):
        (mnt / folder).mkdir(parents=True)
    tv = Mapping(name="tv", plex="/data/tv", array=str(mnt / "user0/media/tv"),
                 cache=str(mnt / "cache/media/tv"))  # fmt: skip
    films = Mapping(name="films", plex="/data/films", array=str(mnt / "user0/media/films"),
                    cache=str(mnt / "cache/media/films"), host_cache="/mnt/fast/films")  # fmt: skip
    resolver = PathResolver([tv, films])
    path = tmp_path / "mover_exclude.txt"
    exclusion = MoverExclusion.from_config(
        MoverConfig(exclude_file=str(path)), tmp_path, host_pool="/mnt/nvme/"
    )
    await exclusion.refresh(locations(resolver, "/data/tv/S/e1.mkv", "/data/films/F.mkv"))
    assert path.read_text().splitlines()[1:] == [
        "/mnt/fast/films/F.mkv",
        "/mnt/nvme/media/tv/S/e1.mkv",
    ]
