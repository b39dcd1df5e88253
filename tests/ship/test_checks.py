"""`cacherr check` and the start-up checks on prepared folders: each ✓ and each ✗."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from cacherr import keys
from cacherr.app import create_app
from cacherr.checks import (
    check_array_access,
    check_array_disks,
    check_audit,
    check_host_pool,
    check_mover,
    check_mover_pid,
    check_paths,
    check_plex,
    fatal,
)
from cacherr.config import ConfigStore
from cacherr.config.models import Mapping, Settings
from cacherr.errors import Unavailable
from cacherr.fakeplex import World, start_fake_plex
from tests.conftest import ClientFactory


def settings(**sections: Any) -> Settings:
    return Settings.model_validate(sections)


def tree(root: Path, *parts: str) -> Path:
    folder = root.joinpath(*parts)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def mapping(array: Path, cache: Path, name: str = "tv") -> dict[str, Any]:
    return {"name": name, "plex": "/data/tv", "array": str(array), "cache": str(cache)}


def test_a_good_mapping_passes(tmp_path: Path) -> None:
    array, cache = tree(tmp_path, "mnt/user0/media/tv"), tree(tmp_path, "mnt/cache/media/tv")
    results = check_paths(settings(paths={"mappings": [mapping(array, cache)]}))
    assert all(r.ok for r in results), [r.line() for r in results]
    names = {r.name for r in results}
    assert {"mapping tv", "temp files of tv", "free space of tv"} <= names


def test_a_union_array_is_fatal_with_its_fix(tmp_path: Path) -> None:
    array, cache = tree(tmp_path, "mnt/user/media/tv"), tree(tmp_path, "mnt/cache/media/tv")
    results = check_paths(settings(paths={"mappings": [mapping(array, cache)]}))
    (bad,) = fatal(results)
    assert "/mnt/user0" in bad.line()


def test_in_the_image_a_cache_on_the_container_file_system_is_fatal(tmp_path: Path) -> None:
    array, cache = tree(tmp_path, "array"), tree(tmp_path, "cache")
    if os.stat(cache).st_dev != os.stat("/").st_dev:
        pytest.skip("tmp_path is a separate file system here, so it looks like a real mount")
    conf = settings(paths={"mappings": [mapping(array, cache)]})
    assert fatal(check_paths(conf, container=False)) == []
    (bad,) = fatal(check_paths(conf, container=True))
    assert "bind-mount the pool" in bad.fix


def test_the_same_folder_twice_is_fatal(tmp_path: Path) -> None:
    folder = tree(tmp_path, "media")
    results = check_paths(settings(paths={"mappings": [mapping(folder, folder)]}))
    assert len(fatal(results)) == 1


def test_missing_folders_and_no_mappings_are_reported_not_fatal(tmp_path: Path) -> None:
    assert not check_paths(settings())[0].ok
    results = check_paths(
        settings(paths={"mappings": [mapping(tmp_path / "nope", tree(tmp_path, "cache"))]})
    )
    assert [r.ok for r in results] == [False]
    assert "does not exist" in results[0].detail
    assert fatal(results) == []


def test_low_free_space_is_a_cross(tmp_path: Path) -> None:
    array, cache = tree(tmp_path, "array"), tree(tmp_path, "cache")
    results = check_paths(
        settings(paths={"mappings": [mapping(array, cache)]}, cache={"min_free": "100%"})
    )
    (space,) = [r for r in results if r.name == "free space of tv"]
    assert not space.ok and "cache.min_free" in space.fix


def test_the_mover_file_folder_must_be_writable(tmp_path: Path) -> None:
    ok = check_mover(settings(), tmp_path)
    assert ok[0].ok
    missing = check_mover(
        settings(mover={"exclude_file": str(tmp_path / "no/such/list.txt")}), tmp_path
    )
    assert not missing[0].ok
    unset = check_mover(settings(mover={"exclude_file": None}), tmp_path)
    assert not unset[0].ok


def test_in_a_container_the_mover_pid_file_must_be_the_hosts(tmp_path: Path) -> None:
    if os.stat("/var/run").st_dev != os.stat("/").st_dev:
        pytest.skip("/var/run is its own mount here, as the host's would be")
    (bad,) = check_mover_pid(settings(), container=True, host_run=tmp_path / "not-mounted")
    assert not bad.ok and "-v /var/run:" in bad.fix and "goes unnoticed" in bad.detail
    (bare,) = check_mover_pid(settings(), container=False, host_run=tmp_path / "not-mounted")
    assert bare.ok and "/var/run/mover.pid" in bare.detail
    if os.stat("/dev/shm").st_dev == os.stat("/").st_dev:
        pytest.skip("no second file system to stand for the host's /var/run mount")
    with tempfile.TemporaryDirectory(dir="/dev/shm") as mounted:
        (good,) = check_mover_pid(settings(), container=True, host_run=Path(mounted))
        assert good.ok and "does not run" in good.detail, good.line()
        (Path(mounted) / "mover.pid").write_text("123\n")
        (running,) = check_mover_pid(settings(), container=True, host_run=Path(mounted))
        assert running.ok and "the mover runs" in running.detail


def test_a_host_cache_off_the_hosts_pool_is_reported() -> None:
    """The template passes the pool's host path (HOST_POOL); each exclusion line must be on
    it, or the mover, which does not match the line, moves the cached files back."""
    tv = {"name": "tv", "plex": "/data/tv", "array": "/mnt/user0/media/tv",
          "cache": "/mnt/cache/media/tv"}  # fmt: skip
    # A pool named nvme mounted at /mnt/cache: the lines are derived onto /mnt/nvme.
    (derived,) = check_host_pool(settings(paths={"mappings": [tv]}), "/mnt/nvme")
    assert derived.ok and "/mnt/nvme/media/tv/…" in derived.detail
    stale = {**tv, "host_cache": "/mnt/cache/media/tv"}  # set by hand for the old pool
    (bad,) = check_host_pool(settings(paths={"mappings": [stale]}), "/mnt/nvme")
    assert not bad.ok and "not on the host's pool /mnt/nvme" in bad.detail
    assert "unset host_cache of mapping 'tv'" in bad.fix
    assert check_host_pool(settings(paths={"mappings": [tv]}), "/mnt/cache/")[0].ok
    remote = {**tv, "cacheable": False}
    assert check_host_pool(settings(paths={"mappings": [remote]}), "/mnt/nvme") == []
    assert check_host_pool(settings(paths={"mappings": [tv]}), "") == []  # not in the image


def test_check_says_whether_the_array_disks_can_be_told(tmp_path: Path) -> None:
    """The per-disk limits find a union file's disk under cache.disks_root: in the container
    only where the host's /mnt is mapped (the template's /host/mnt); else a ✗, not fatal."""
    array, cache = tree(tmp_path, "mnt/user0/media/tv"), tree(tmp_path, "mnt/cache/media/tv")
    disks = tmp_path / "host/mnt"
    for name in ("disk1", "disk2", "disk3", "disk10"):
        tree(disks, name)
    tv = {"paths": {"mappings": [mapping(array, cache)]}}
    (seen,) = check_array_disks(settings(**tv, cache={"disks_root": str(disks)}))
    assert seen.ok, seen.line()
    assert seen.line() == (f"✓ array disks: disk1, disk2, disk3, disk10 found under {disks}; "
                           "one copy per disk at a time")  # fmt: skip
    shutil.rmtree(disks / "disk10")
    limited = {"disks_root": str(disks), "copies_per_disk": 2, "disk_limit_mib_s": 80}
    (both,) = check_array_disks(settings(**tv, cache=limited))
    assert both.detail.endswith("disk1–disk3 found under " + str(disks) + "; 2 copies per "
                                "disk at a time, at most 80 MiB/s per disk")  # fmt: skip

    unmapped = settings(**tv, cache={"disks_root": str(tmp_path / "mnt")})  # no diskN there
    (bad,) = check_array_disks(unmapped)
    assert not bad.ok and fatal([bad]) == []
    assert f"no diskN under {tmp_path / 'mnt'}" in bad.detail
    assert "map the host's /mnt read-only to /host/mnt" in bad.fix
    assert "-e CACHERR_CACHE__DISKS_ROOT=/host/mnt" in bad.fix
    # Nothing to tell: the limits off, or an array on a disk already (or not Unraid's).
    off = {"disks_root": str(tmp_path / "mnt"), "copies_per_disk": 0}
    assert check_array_disks(settings(**tv, cache=off)) == []
    on_disk = {"paths": {"mappings": [mapping(tree(disks, "disk1/media/tv"), cache)]}}
    assert check_array_disks(settings(**on_disk, cache={"disks_root": str(disks)})) == []


def test_start_up_checks_the_pools_host_path_given_by_the_template(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    array, cache = tree(tmp_path, "mnt/user0/media/tv"), tree(tmp_path, "mnt/cache/media/tv")
    monkeypatch.setenv("HOST_POOL", "/mnt/nvme")  # the container's environment
    stale = {**mapping(array, cache), "host_cache": "/mnt/cache/media/tv"}
    results = check_paths(settings(paths={"mappings": [stale]}))
    (bad,) = [r for r in results if r.name == "mover paths of tv"]
    assert not bad.ok and "unset host_cache" in bad.fix
    assert fatal(results) == []  # the files are safe; the mover would only move them back


def test_the_audit_reports_duplicates(tmp_path: Path) -> None:
    array, cache = tree(tmp_path, "array"), tree(tmp_path, "cache")
    conf = settings(paths={"mappings": [mapping(array, cache)]})
    assert check_audit(conf)[0].ok
    (array / "a.mkv").write_bytes(b"x" * 10)
    (cache / "a.mkv").write_bytes(b"x" * 10)
    (result,) = check_audit(conf)
    assert not result.ok and "1 duplicate" in result.detail


async def test_plex_and_plextv_answer_with_the_token(tmp_path: Path) -> None:
    world = World(array_root=tmp_path / "array")
    world.add_movie("Heat", year=1995)
    server = await start_fake_plex(world)
    try:
        plex = {
            "url": server.url,
            "token": world.owner.token,
            "plextv_url": server.plextv_url,
            "discover_url": server.discover_url,
            "metadata_url": server.metadata_url,
            "plextv_min_interval_ms": 0,
        }
        results = await check_plex(settings(plex=plex))
        assert [r.ok for r in results] == [True, True], [r.line() for r in results]
        assert world.owner.username in results[1].detail
        results = await check_plex(settings(plex={**plex, "token": "wrong"}), timeout_s=5)
        assert not results[0].ok
    finally:
        await server.close()


async def test_plex_not_configured_is_a_cross() -> None:
    (result,) = await check_plex(settings())
    assert not result.ok and "plex.url" in result.fix


async def test_the_daemon_refuses_to_start_on_a_union_array(tmp_path: Path) -> None:
    array, cache = tree(tmp_path, "mnt/user/media/tv"), tree(tmp_path, "mnt/cache/media/tv")
    store = ConfigStore.open(tmp_path / "config")
    store.save({"paths": {"mappings": [mapping(array, cache)]}})
    runner = web.AppRunner(create_app(store))
    with pytest.raises(Unavailable, match="would lose data"):
        await runner.setup()
    await runner.cleanup()


async def test_start_up_warns_when_the_array_disks_cannot_be_told(
    aiohttp_client: ClientFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An installed container from before the template mapped /host/mnt: one copy per disk
    silently holds no more, so the log says so; the daemon runs on."""
    array, cache = tree(tmp_path, "mnt/user0/media/tv"), tree(tmp_path, "mnt/cache/media/tv")
    store = ConfigStore.open(tmp_path / "config")
    store.save({"paths": {"mappings": [mapping(array, cache)]},
                "cache": {"disks_root": str(tmp_path / "mnt")}})  # fmt: skip

    client = await aiohttp_client(create_app(store))

    warned = [r for r in caplog.records if "✗ array disks" in r.getMessage()]
    assert [r.levelname for r in warned] == ["WARNING"]
    assert "map the host's /mnt read-only to /host/mnt" in warned[0].getMessage()
    assert (await client.get("/api/health")).status == 200


def _share_not_on_the_pool(root: Path) -> tuple[Path, Path]:
    """Unraid before anything of share `media` is on the pool: /mnt/cache exists, its
    `media` folder does not; the array's folders belong to 1234:100, mode 2775."""
    array = tree(root, "mnt/user0/media/tv")
    for folder in (array.parent, array):
        os.chown(folder, 1234, 100)
        folder.chmod(0o2775)
    tree(root, "mnt/cache")
    return array, root / "mnt/cache/media/tv"


def test_check_says_a_share_folder_missing_on_the_pool_is_created_at_start(
    tmp_path: Path,
) -> None:
    array, cache = _share_not_on_the_pool(tmp_path)
    results = check_paths(settings(paths={"mappings": [mapping(array, cache)]}))
    assert all(r.ok for r in results), [r.line() for r in results]
    assert "start-up creates it" in results[0].detail
    assert not cache.parent.exists()  # `cacherr check` writes nothing
    (tmp_path / "mnt/cache").rmdir()  # no pool at all: still refused
    (missing,) = check_paths(settings(paths={"mappings": [mapping(array, cache)]}))
    assert not missing.ok and "does not exist" in missing.detail


@pytest.mark.skipif(os.geteuid() != 0, reason="gives folders to another owner")
async def test_start_up_creates_the_share_folder_like_the_arrays_and_uses_the_mapping(
    aiohttp_client: ClientFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    array, cache = _share_not_on_the_pool(tmp_path)
    store = ConfigStore.open(tmp_path / "config")
    store.save({"paths": {"mappings": [mapping(array, cache)]}})
    caplog.set_level("INFO", logger="cacherr")

    client = await aiohttp_client(create_app(store))

    assert client.app[keys.MAPPING_PROBLEMS] == []
    for folder in (cache.parent, cache):
        st = folder.stat()
        assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1234, 100, 0o2775), folder
    assert caplog.text.count("created the cache folder") == 1


AS_THE_DAEMON = """
import json, os, sys
from cacherr.checks import check_array_access
from cacherr.config.models import Mapping
import encodings.ascii  # imported now: this Python's library may be unreadable to uid 99
os.setgroups([100])
os.setresgid(100, 100, 100)
os.setresuid(99, 99, 99)  # Unraid's nobody:users, without capabilities
mapping = Mapping(name="tv", plex="/data/tv", array=sys.argv[1], cache=sys.argv[2])
print(json.dumps([[c.name, c.ok, c.detail, c.fix] for c in check_array_access(mapping)]))
"""


def as_the_daemon(array: Path, cache: Path) -> list[list[Any]]:
    """`check_array_access` run the way the container runs it: uid 99, gid 100, no caps."""
    done = subprocess.run(
        [sys.executable, "-c", AS_THE_DAEMON, str(array), str(cache)],
        capture_output=True, text=True, timeout=60, check=False, cwd="/",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    found: list[list[Any]] = json.loads(done.stdout)
    return found


@pytest.mark.skipif(os.geteuid() != 0, reason="drops to uid 99 (needs root)")
def test_as_uid_99_renames_and_owners_on_the_array_are_checked_with_the_fix() -> None:
    sandbox = Path(tempfile.mkdtemp(prefix="cacherr-array-"))  # tmp_path is root's alone
    try:
        sandbox.chmod(0o755)
        array, cache = tree(sandbox, "mnt/user0/media/tv"), tree(sandbox, "mnt/cache/media/tv")
        season = tree(array, "Show/Season 01")
        (season / "Show - S01E01.mkv").write_bytes(b"x")
        for path in (array, array / "Show", season, season / "Show - S01E01.mkv"):
            os.chown(path, 1000, 100)  # written by another container's PUID 1000

        renames, owners = as_the_daemon(array, cache)

        assert renames[1] is False and f"cannot rename in {array}" in renames[2]
        assert "set PUID/PGID to the owner of" in renames[3] and "(1000:100)" in renames[3]
        assert "Tools → New Permissions" in renames[3]
        assert owners[1] is False and "belong to 1000:100" in owners[2]
        assert owners[3].startswith("set PUID/PGID to 1000:100")

        subprocess.run(["chown", "-R", "99:100", str(array)], check=True)
        assert [ok for _, ok, _, _ in as_the_daemon(array, cache)] == [True, True]
        # Root keeps owners by itself: only the rename line.
        assert len(check_array_access(Mapping(name="tv", plex="/d", array=str(array),
                                              cache=str(cache)))) == 1  # fmt: skip
    finally:
        shutil.rmtree(sandbox)
