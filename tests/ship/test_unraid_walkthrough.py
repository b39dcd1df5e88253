"""The README's "First run on Unraid", followed literally under a temp root.

An Unraid host is built under a sandbox: the appdata share, the array's `media` share
(nobody:users, as Unraid's New Permissions leaves it), a pool `cache` with nothing of the
share on it yet (its own file system, a tmpfs) and the host's run folder (another tmpfs).
The README's `docker run` line is parsed and its `-v` and `-e` flags applied as Docker
would: each `-v` is a bind mount in a container root (a private mount namespace, `chroot`),
`:ro` read-only; the image's entrypoint and command start the daemon there. `-p 5757:5757`
becomes a free local port (CACHERR_WEB__PORT), since the test shares this machine's network.
Plex is the simulated one; the settings are the README's `cacherr.json` mapping plus its
address and token. Then the README's `docker exec -u 99:100 cacherr cacherr check`, the
Mover Tuning file path and the webhook reachability check are run as written.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cacherr.config import ConfigStore
from cacherr.fakeplex import FakePlexServer, World, start_fake_plex
from cacherr.files.mover import MARKER
from tests.foundation.test_cli import free_port, wait_healthy
from tests.hardening.test_faults import tmpfs

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
VENV_BIN = Path(sys.executable).parent  # `cacherr` of this install


def walkthrough() -> str:
    """The README's "First run on Unraid" section."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("### First run on Unraid")
    return text[start : text.index("\n### ", start + 1)]


@dataclass
class DockerRun:
    """The README's `docker run` line, as Docker reads it."""

    volumes: list[tuple[str, str, bool]] = field(default_factory=list)  # host, target, ro
    env: dict[str, str] = field(default_factory=dict)
    ports: list[str] = field(default_factory=list)
    options: dict[str, str] = field(default_factory=dict)
    image: str = ""


def docker_run() -> DockerRun:
    [block] = re.findall(r"```sh\n(.*?)```", walkthrough(), re.DOTALL)
    words = shlex.split(block.replace("\\\n", " "))
    assert words[:3] == ["docker", "run", "-d"], words[:3]
    run, rest = DockerRun(), words[3:]
    while rest:
        word = rest.pop(0)
        if word == "-v":
            host, target, *mode = rest.pop(0).split(":")
            run.volumes.append((host, target, mode == ["ro"]))
        elif word == "-e":
            key, _, value = rest.pop(0).partition("=")
            run.env[key] = value
        elif word == "-p":
            run.ports.append(rest.pop(0))
        elif word.startswith("--"):
            run.options[word] = rest.pop(0)
        else:
            run.image = word
    return run


def readme_settings() -> dict[str, Any]:
    [block] = re.findall(r"```json\n(.*?)```", walkthrough(), re.DOTALL)
    settings: dict[str, Any] = json.loads(block)
    return settings


def readme_line(pattern: str) -> re.Match[str]:
    found = re.search(pattern, walkthrough())
    assert found is not None, pattern
    return found


def image_env() -> dict[str, str]:
    """The Dockerfile's ENV of the final stage."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    env: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            env.update(pair.split("=", 1) for pair in shlex.split(line[4:]))
    return env


def _works() -> bool:
    if os.geteuid() != 0 or not all(
        shutil.which(tool) for tool in ("unshare", "nsenter", "chroot", "setpriv")
    ):
        return False
    probe = subprocess.run(["unshare", "--mount", "true"], capture_output=True, check=False)
    return probe.returncode == 0


pytestmark = pytest.mark.skipif(not _works(), reason="needs root, mount namespaces and chroot")


@pytest.fixture
def host() -> Iterator[Path]:
    """The Unraid host's folders under a sandbox every user may enter."""
    top = Path(tempfile.mkdtemp(prefix="cacherr-unraid-"))
    top.chmod(0o755)
    h = top / "host"
    try:
        with contextlib.ExitStack() as mounts:
            for folder in (h / "mnt/cache", h / "var/run"):  # the pool, the host's /var/run
                mounts.enter_context(tmpfs(folder, "64m"))
            yield _unraid_host(h)
    finally:
        shutil.rmtree(top)


def _unraid_host(h: Path) -> Path:
    """The appdata share, the array's media share as New Permissions leaves it, on disk1."""
    appdata = h / "mnt/user/appdata/cacherr"  # what Docker makes of a missing -v source
    appdata.mkdir(parents=True)
    season = h / "mnt/user0/media/tv/Show/Season 01"
    season.mkdir(parents=True)
    (h / "mnt/disk1/media").mkdir(parents=True)  # the array disk that holds the share
    for n in (1, 2):
        (season / f"Show - S01E0{n}.mkv").write_bytes(os.urandom(4096))
    for folder, _, files in os.walk(h / "mnt/user0/media"):
        os.chown(folder, 99, 100)
        os.chmod(folder, 0o777)
        for name in files:
            os.chown(Path(folder, name), 99, 100)
            os.chmod(Path(folder, name), 0o666)
    return h


@pytest.fixture
async def plex(host: Path) -> AsyncIterator[tuple[World, FakePlexServer]]:
    # Plex's library lives where linuxserver/plex sees `/mnt/user/media:/media`.
    world = World(array_root=host / "plex-sees", plex_root="/media")
    world.add_show("Show", seasons={1: 2}, year=2020)
    server = await start_fake_plex(world)
    yield world, server
    await server.close()


async def run(*argv: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *argv,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 120)
    return process.returncode or 0, out.decode()


CONTAINER = """
set -eu
root=$1 host=$2 python=$3 checkout=$4 venv=$5; shift 5
for top in /usr /bin /sbin /lib /lib64 /dev "$python" "$checkout" "$venv"; do
    [ -e "$top" ] || continue
    mkdir -p -m 0755 "$root$top"  # the folders above it open to all, as in the image
    mount --rbind "$top" "$root$top"
done
mkdir -p "$root/proc" "$root/tmp" && mount -t proc proc "$root/proc"
while [ "$1" != -- ]; do  # source:target:ro|rw, as `docker run -v` says
    src=${1%%:*} rest=${1#*:} target=${rest%:*} mode=${rest##*:}; shift
    mkdir -p "$host$src" "$root$target"
    mount --bind "$host$src" "$root$target"
    [ "$mode" = rw ] || mount -o remount,bind,ro "$root$target"
done
shift
exec chroot "$root" "$@"
"""


def _get_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=5) as answer:
        body: dict[str, Any] = json.load(answer)
        return body


def _post_json(url: str, body: dict[str, Any]) -> dict[str, Any]:
    origin = url.split("/api/", 1)[0]
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", "Origin": origin},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return dict(json.load(answer))
    except urllib.error.HTTPError as exc:
        return dict(json.loads(exc.read().decode()))


async def read_until(daemon: asyncio.subprocess.Process, marker: str) -> str:
    """The daemon's output up to and including the first line holding `marker`."""
    assert daemon.stdout is not None
    seen: list[str] = []
    async with asyncio.timeout(30):
        while True:
            line = (await daemon.stdout.readline()).decode()
            if not line:
                raise AssertionError("the daemon's output ended:\n" + "".join(seen))
            seen.append(line)
            if marker in line:
                return "".join(seen)


def _post(url: str) -> str:
    request = urllib.request.Request(url, data=b"", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return str(answer.read().decode())
    except urllib.error.HTTPError as exc:
        return str(exc.read().decode())


async def test_the_readme_first_run_on_unraid(
    host: Path, plex: tuple[World, FakePlexServer]
) -> None:
    world, fake = plex
    readme = docker_run()
    assert readme.options == {"--name": "cacherr", "--restart": "unless-stopped"}
    assert readme.image == "cacherr/cacherr:latest" and readme.ports == ["5757:5757"]
    assert "TZ" in readme.env
    volumes = {target: (source, ro) for source, target, ro in readme.volumes}
    assert volumes["/host/run"] == ("/var/run", True)
    appdata = host / volumes["/config"][0].lstrip("/")

    # Step 5: the settings (the page writes the same file); Plex is the simulated one.
    settings = readme_settings()
    settings["plex"] = {"url": fake.url, "token": world.owner.token,
                        "plextv_url": fake.plextv_url, "discover_url": fake.discover_url,
                        "metadata_url": fake.metadata_url, "plextv_min_interval_ms": 0}  # fmt: skip
    settings["sweep"] = {"on_start": False}
    store = ConfigStore.open(appdata)
    store.save(settings)
    assert store.current.webhook.secret is not None
    secret = store.current.webhook.secret.get_secret_value()

    # Step 3: the container, started as Docker would (entrypoint, then the command).
    container = Path(tempfile.mkdtemp(prefix="cacherr-container-"))
    os.chmod(container, 0o755)  # its "/"
    assert (await run("cp", "-a", "/etc", str(container / "etc")))[0] == 0
    port = free_port()
    env = {
        "PATH": f"{VENV_BIN}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        **image_env(),
        **readme.env,
        "CACHERR_WEB__PORT": str(port),  # -p 5757:5757 on this machine's shared network
    }
    binds = [f"{src}:{target}:{'ro' if ro else 'rw'}" for src, target, ro in readme.volumes]
    in_container = ["unshare", "--mount", "--propagation", "private", "sh", "-c", CONTAINER,
                    "container", str(container), str(host), sys.base_prefix, str(ROOT),
                        str(VENV_BIN.parent), *binds,
                    "--"]  # fmt: skip
    entrypoint = ["sh", str(ROOT / "docker" / "entrypoint.sh"), "cacherr", "run"]
    daemon = await asyncio.create_subprocess_exec(
        *in_container, *entrypoint, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output = ""  # what the test read of the daemon's output while it ran
    try:
        try:
            answer = await asyncio.to_thread(
                wait_healthy, port, 60, lambda: daemon.returncode is None
            )
        except AssertionError:
            assert daemon.stdout is not None
            raise AssertionError((await daemon.stdout.read()).decode()) from None
        health = answer["data"]
        assert health["database"]["ok"], health

        # The share had nothing on the pool: its folder is made like the array's.
        share = host / "mnt/cache/media"
        st, twin = share.stat(), (host / "mnt/user0/media").stat()
        assert (st.st_uid, st.st_gid, st.st_mode) == (twin.st_uid, twin.st_gid, twin.st_mode)
        # The config folder belongs to PUID:PGID.
        config_file = appdata / "cacherr.json"
        assert (config_file.stat().st_uid, config_file.stat().st_gid) == (99, 100)

        # Step 2: the file Mover Tuning is told to read is Cacherr's exclusion list.
        listed = readme_line(r"the file to\s+`(/mnt/user/appdata/cacherr/[^`]+)`").group(1)
        assert MARKER in (host / listed.lstrip("/")).read_text(encoding="utf-8")

        # Step 5: the login, with the set-up code the container's log prints.
        readme_line(r"set-up code from the container's log \(`docker logs cacherr`\)")
        output = await read_until(daemon, "set-up code")
        setup = re.search(r"set-up code ([A-Z0-9]{5}-[A-Z0-9]{5})", output)
        assert setup is not None, output
        created = await asyncio.to_thread(
            _post_json, f"http://127.0.0.1:{port}/api/auth/setup",
            {"username": "admin", "password": "a long password", "code": setup.group(1)},
        )  # fmt: skip
        assert created["success"], created

        # Step 6: `docker exec -u 99:100 cacherr cacherr check`, in the running container.
        exec_line = readme_line(r"`docker exec -u (\d+):(\d+) cacherr (cacherr check)`")
        uid, gid, command = exec_line.groups()
        pid = daemon.pid  # unshare, sh, chroot, the entrypoint and setpriv all exec
        as_user = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups",
                   "--inh-caps=-all"]  # fmt: skip
        status, report = await run(
            "nsenter", f"--target={pid}", "--mount", "--root", "--wd=/",
            *as_user, *command.split(), env=env,
        )  # fmt: skip
        assert status == 0, report
        for line in ("✓ renames in the array of media", "✓ owners in the array of media",
                     "✓ mover pid file", "✓ mover paths of media", "✓ plex:",
                     "✓ array disks: disk1 found under /host/mnt"):  # fmt: skip
            assert line in report, report
        assert "✗" not in report, report

        # Step 7: Plex reaches the webhook URL with the secret (and is told when it is wrong).
        url = readme_line(r"curl -s -X POST '(http://<server-ip>:5757/api/webhooks/plex\?secret=)")
        base = url.group(1).replace("<server-ip>:5757", f"127.0.0.1:{port}")
        assert "expected multipart/form-data" in await asyncio.to_thread(_post, base + secret)
        wrong = await asyncio.to_thread(_post, base + "nope")
        assert "wrong or missing webhook secret" in wrong
    finally:
        if daemon.returncode is None:
            daemon.send_signal(signal.SIGTERM)  # `docker stop`
        out, _ = await asyncio.wait_for(daemon.communicate(), 60)
        remove_container(container)
    log = output + out.decode()
    assert daemon.returncode == 0, log
    assert "useradd warning" not in log and "✗" not in log, log
    assert log.count("created the cache folder /mnt/cache/media") == 1, log


def remove_container(container: Path) -> None:
    """The container root: its copy of /etc, then empty mount points only. Nothing is
    removed through a mount (there is none left outside the namespace, and a file found
    where an empty folder should be stops the clean-up)."""
    shutil.rmtree(container / "etc")
    for folder, dirs, files in os.walk(container, topdown=False):
        assert not files, f"{folder} is not an empty mount point"
        for name in dirs:
            os.rmdir(Path(folder, name))
    os.rmdir(container)
