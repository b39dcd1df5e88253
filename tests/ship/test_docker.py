"""The image without a Docker engine: the Dockerfile's essentials and linters, the
healthcheck against the real app, the web page in a non-editable install, and the
entrypoint run for real (as root, in a private mount namespace with a copy of /etc, so
the users it creates never reach this machine's /etc)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from cacherr import keys
from cacherr.app import create_app
from cacherr.config import ConfigStore
from cacherr.errors import DatabaseUnwritable
from tests.hardening.test_faults import fill, tmpfs

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def tool_works(name: str) -> bool:
    """Whether a linter is installed and runs (a stale pyenv shim does not)."""
    if shutil.which(name) is None:
        return False
    probe = subprocess.run([name, "--version"], capture_output=True, check=False)
    return probe.returncode == 0


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile as (INSTRUCTION, arguments), continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), " ".join(rest.split())))
    return found


def stages() -> list[list[tuple[str, str]]]:
    split: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions():
        if keyword == "FROM":
            split.append([])
        if split:
            split[-1].append((keyword, rest))
    return split


def healthcheck_command() -> list[str]:
    [args] = [rest for keyword, rest in instructions() if keyword == "HEALTHCHECK"]
    command: list[str] = json.loads(args[args.index("CMD ") + 4 :])
    return command


def copied_from(target: str) -> Path:
    """The file of this repository the Dockerfile copies to `target` in the image."""
    for keyword, rest in instructions():
        words = [w for w in rest.split() if not w.startswith("--")]
        if keyword == "COPY" and words[-1] == target:
            return ROOT / words[0]
    raise LookupError(target)


LOCK = ROOT / "docker" / "requirements.lock"


# --- the Dockerfile ------------------------------------------------------------------------


def test_two_stages_on_python_slim_pinned_by_digest_the_last_without_compilers() -> None:
    builder, final = stages()
    assert builder[0] == ("FROM", "${PYTHON_IMAGE} AS builder")
    assert final[0] == ("FROM", "${PYTHON_IMAGE}")
    [image] = [rest for k, rest in instructions() if k == "ARG" and "PYTHON_IMAGE=" in rest]
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.12-slim@sha256:[0-9a-f]{64}", image)
    builder_runs = " ".join(rest for k, rest in builder if k == "RUN")
    assert "--require-hashes --only-binary=:all:" in builder_runs
    assert "-r docker/requirements.lock" in builder_runs
    final_runs = " ".join(rest for k, rest in final if k == "RUN")
    assert "--no-index --find-links=/wheels --require-hashes -r /tmp/requirements.lock" in (
        final_runs
    )
    assert "source=docker/requirements.lock" in final_runs
    assert "from=builder" in final_runs
    for compiler in ("gcc", "build-essential", "python3-dev", "pip wheel"):
        assert compiler not in final_runs
    assert "tini" in final_runs and "--no-install-recommends" in final_runs
    assert "rm -rf /var/lib/apt/lists/*" in final_runs


def test_the_lock_file_pins_every_dependency_with_hashes() -> None:
    """Every requirement of pyproject.toml (and each of theirs) is pinned `==` with at least
    one sha256, so pip's --require-hashes mode accepts the file; the Dockerfile documents
    the one command that regenerates it."""
    text = re.sub(r"\\\n", " ", LOCK.read_text(encoding="utf-8"))
    pinned = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, rest = line.partition("==")
            assert "--hash=sha256:" in rest, line[:60]
            pinned[name.strip().lower().replace("_", "-")] = rest.split()[0]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    for requirement in project["dependencies"]:
        name = re.split(r"[<>=!~\[ ;]", requirement, maxsplit=1)[0].lower()
        assert name in pinned, f"{name} is missing from {LOCK.name}"
    assert "pip-compile --generate-hashes" in DOCKERFILE.read_text(encoding="utf-8")


def test_the_release_labels_carry_version_and_revision() -> None:
    final = stages()[-1]
    args = {rest.split("=")[0] for k, rest in final if k == "ARG"}
    assert {"VERSION", "REVISION"} <= args
    [labels] = [rest for k, rest in final if k == "LABEL"]
    assert 'org.opencontainers.image.version="${VERSION}"' in labels
    assert 'org.opencontainers.image.revision="${REVISION}"' in labels


def test_the_runtime_contract() -> None:
    final = stages()[-1]
    joined = {k: " ".join(rest for kk, rest in final if kk == k) for k, _ in final}
    assert joined["EXPOSE"] == "5757"
    assert joined["VOLUME"] == '["/config"]'
    for variable in ("CACHERR_CONFIG_DIR=/config", "PUID=99", "PGID=100", "UMASK=022"):
        assert variable in joined["ENV"]
    assert json.loads(joined["ENTRYPOINT"]) == [
        "/usr/bin/tini",
        "--",
        "/usr/local/bin/cacherr-entrypoint",
    ]
    assert json.loads(joined["CMD"]) == ["cacherr", "run"]
    assert "docker/entrypoint.sh /usr/local/bin/cacherr-entrypoint" in joined["COPY"]
    assert "org.opencontainers.image.title" in joined["LABEL"]
    assert healthcheck_command() == ["python", "/usr/local/bin/cacherr-healthcheck"]
    assert copied_from("/usr/local/bin/cacherr-healthcheck") == ROOT / "docker/healthcheck.py"


def test_the_build_context_holds_what_the_build_copies() -> None:
    allowed = {
        line[1:].rstrip("/")
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.startswith("!")
    }
    for keyword, rest in instructions():
        if keyword == "COPY" and "--from" not in rest:
            sources = [s for s in rest.split()[:-1] if not s.startswith("--")]
            for source in sources:
                top = source.removeprefix("./").split("/")[0]
                assert top in allowed, source
                assert (ROOT / source).exists(), source


@pytest.mark.skipif(not tool_works("hadolint"), reason="hadolint is not installed")
def test_hadolint_finds_nothing() -> None:
    result = subprocess.run(
        ["hadolint", str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(not tool_works("shellcheck"), reason="shellcheck is not installed")
def test_shellcheck_finds_nothing_in_the_entrypoint() -> None:
    result = subprocess.run(
        ["shellcheck", "--shell=sh", str(ENTRYPOINT)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


async def healthcheck(port: int) -> tuple[int, str]:
    """The image's HEALTHCHECK command against `port`: (exit status, what it printed)."""
    script = copied_from(healthcheck_command()[1])
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        env={**os.environ, "CACHERR_WEB__PORT": str(port)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    return process.returncode or 0, out.decode()


async def test_the_healthcheck_passes_on_the_real_app_and_fails_without_it(
    aiohttp_server: Callable[[web.Application], Awaitable[TestServer]],
    store: ConfigStore,
    dead_port: int,
) -> None:
    server = await aiohttp_server(create_app(store))
    status, said = await healthcheck(server.port or 0)
    assert status == 0 and said.startswith("healthy"), said
    status, said = await healthcheck(dead_port)
    assert status == 1 and "did not answer" in said


@pytest.fixture
def small_config(tmp_path: Path) -> Iterator[Path]:
    """A config folder on a 4 MiB tmpfs (root only), unmounted after the app has stopped."""
    with tmpfs(tmp_path / "config", "4m") as config:
        yield config


async def test_the_healthcheck_fails_while_the_database_cannot_be_written(
    small_config: Path, aiohttp_server: Callable[[web.Application], Awaitable[TestServer]]
) -> None:
    """appdata full: Cacherr answers, but nothing can be cached; Docker must see it."""
    server = await aiohttp_server(create_app(ConfigStore.open(small_config)))
    db = server.app[keys.DB]
    await db.execute("CREATE TABLE IF NOT EXISTS ballast (b BLOB)")
    assert (await healthcheck(server.port or 0))[0] == 0
    filler = await asyncio.to_thread(fill, small_config)
    with pytest.raises(DatabaseUnwritable):
        await db.execute("INSERT INTO ballast VALUES (randomblob(1000000))")

    status, said = await healthcheck(server.port or 0)
    assert status == 1 and "cannot be written" in said, said

    filler.unlink()
    await db.execute("INSERT INTO ballast VALUES (1)")
    status, said = await healthcheck(server.port or 0)
    assert status == 0, said


def test_new_files_in_the_config_folder_follow_the_umask(tmp_path: Path) -> None:
    """UMASK (the entrypoint's umask) applies to what Cacherr writes in /config: the mover
    list is 0666 less the umask, cacherr.json (it holds secrets) at most 0600."""
    write = (
        "import sys; from pathlib import Path; from cacherr.config import ConfigStore;"
        "from cacherr.atomic import atomic_write_text;"
        "c = Path(sys.argv[1]); ConfigStore.open(c);"
        "atomic_write_text(c / 'mover_exclude.txt', '')"
    )
    modes = {}
    for umask in ("002", "077"):
        config = tmp_path / umask
        subprocess.run(
            ["sh", "-c", f'umask {umask} && exec "$0" -c "$1" "$2"', sys.executable, write,
             str(config)],
            check=True, timeout=60,
        )  # fmt: skip
        modes[umask] = {
            name: oct((config / name).stat().st_mode & 0o777)
            for name in ("mover_exclude.txt", "cacherr.json")
        }
    assert modes == {
        "002": {"mover_exclude.txt": "0o664", "cacherr.json": "0o600"},
        "077": {"mover_exclude.txt": "0o600", "cacherr.json": "0o600"},
    }


def test_a_non_editable_install_carries_the_page(tmp_path: Path) -> None:
    wheels, target = tmp_path / "wheels", tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(wheels), str(ROOT)], check=True)
    [wheel] = wheels.glob("cacherr-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--target", str(target), str(wheel)], check=True)
    assert (target / "cacherr" / "web" / "index.html").is_file()
    found = subprocess.run(
        [sys.executable, "-c", "from cacherr.app import web_root; print(web_root())"],
        env={**os.environ, "PYTHONPATH": str(target)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(found.stdout.strip()) == target / "cacherr" / "web"


# --- the entrypoint, for real ------------------------------------------------------------


def _namespaces_work() -> bool:
    if not IS_ROOT or shutil.which("unshare") is None or shutil.which("setpriv") is None:
        return False
    probe = subprocess.run(["unshare", "--mount", "true"], capture_output=True, check=False)
    return probe.returncode == 0


needs_root = pytest.mark.skipif(
    not _namespaces_work(), reason="needs root, unshare --mount and setpriv"
)


@pytest.fixture
def sandbox() -> Iterator[Path]:
    """A folder every user may enter (pytest's own tmp_path is root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="cacherr-entrypoint-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


@pytest.fixture
def etc_copy(sandbox: Path) -> Path:
    """A copy of /etc to mount over /etc in the entrypoint's mount namespace."""
    copy = sandbox / "etc"
    subprocess.run(["cp", "-a", "/etc/.", f"{copy}/"], check=False)
    copy.mkdir(exist_ok=True)
    shutil.copystat("/etc", copy)
    return copy


def run_entrypoint(
    etc: Path, env: dict[str, str], *command: str
) -> subprocess.CompletedProcess[str]:
    """Run the entrypoint as root with `etc` mounted over /etc, privately."""
    mount_then_run = 'mount --bind "$0" /etc && exec "$@"'
    argv = ["unshare", "--mount", "sh", "-c", mount_then_run, str(etc), "sh", str(ENTRYPOINT)]
    return subprocess.run(
        [*argv, *command],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
        cwd="/",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


REPORT = 'id -u; id -g; id -G; umask; id -un; id -gn; echo "$HOME"'


@needs_root
def test_it_runs_the_command_as_new_ids_with_the_umask(sandbox: Path, etc_copy: Path) -> None:
    config = sandbox / "config"
    (config / "sub").mkdir(parents=True)
    (config / "cacherr.json").write_text("{}")
    env = {"PUID": "54321", "PGID": "54322", "UMASK": "027", "CACHERR_CONFIG_DIR": str(config)}

    result = run_entrypoint(etc_copy, env, "sh", "-c", REPORT)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "54321",
        "54322",
        "54322",
        "0027",
        "cacherr",
        "cacherr",
        str(config),
    ]
    assert "giving 3 entries" in result.stderr
    for entry in (config, config / "sub", config / "cacherr.json"):
        assert (entry.stat().st_uid, entry.stat().st_gid) == (54321, 54322)
    assert "cacherr:x:54321:54322" in (etc_copy / "passwd").read_text()
    assert "54321" not in Path("/etc/passwd").read_text()


@needs_root
def test_unraid_defaults_reuse_existing_entries_and_a_restart_changes_nothing(
    sandbox: Path, etc_copy: Path
) -> None:
    config = sandbox / "config"
    env = {"CACHERR_CONFIG_DIR": str(config)}
    first = run_entrypoint(etc_copy, env, "sh", "-c", REPORT)
    assert first.returncode == 0, first.stderr
    ids = first.stdout.split()
    assert ids[:4] == ["99", "100", "100", "0022"]
    assert ids[5] == "users"  # Debian's group 100 is reused, not duplicated
    assert "warning" not in first.stderr  # Unraid's uid 99 lies below Debian's UID_MIN
    (config / "state.db").write_text("")
    os.chown(config / "state.db", 99, 100)
    changed_at = (config / "state.db").stat().st_ctime_ns

    second = run_entrypoint(etc_copy, env, "true")

    assert second.returncode == 0, second.stderr
    assert "giving" not in second.stderr
    assert (config / "state.db").stat().st_ctime_ns == changed_at
    assert (etc_copy / "group").read_text().count(":100:") == 1


@needs_root
def test_root_is_refused_unless_asked_for(sandbox: Path, etc_copy: Path) -> None:
    env = {"PUID": "0", "PGID": "0", "CACHERR_CONFIG_DIR": str(sandbox / "config")}
    refused = run_entrypoint(etc_copy, env, "id", "-u")
    assert refused.returncode == 64
    assert "PUID=0 would run Cacherr as root" in refused.stderr
    assert refused.stdout == ""

    allowed = run_entrypoint(etc_copy, {**env, "CACHERR_ALLOW_ROOT": "1"}, "id", "-u")
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stdout.strip() == "0"


@needs_root
@pytest.mark.parametrize(
    ("variable", "value"),
    [("PUID", "nobody"), ("PGID", "-1"), ("UMASK", "22"), ("UMASK", "0o22")],
)
def test_malformed_ids_and_umask_are_refused(
    sandbox: Path, etc_copy: Path, variable: str, value: str
) -> None:
    result = run_entrypoint(
        etc_copy, {variable: value, "CACHERR_CONFIG_DIR": str(sandbox / "c")}, "true"
    )
    assert result.returncode == 64
    assert variable in result.stderr
    assert not (sandbox / "c").exists()


@needs_root
def test_blank_cacherr_variables_count_as_unset(sandbox: Path, etc_copy: Path) -> None:
    env = {
        "CACHERR_CONFIG_DIR": str(sandbox / "config"),
        "CACHERR_PLEX__URL": "",
        "CACHERR_WEBHOOK__SECRET": "",
        "CACHERR_PLEX__TOKEN": "kept",
    }
    result = run_entrypoint(etc_copy, env, "env")
    assert result.returncode == 0, result.stderr
    seen = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    assert "CACHERR_PLEX__URL" not in seen and "CACHERR_WEBHOOK__SECRET" not in seen
    assert seen["CACHERR_PLEX__TOKEN"] == "kept"


@needs_root
def test_started_as_non_root_it_runs_the_command_as_is(sandbox: Path) -> None:
    script = sandbox / "entrypoint.sh"
    shutil.copy(ENTRYPOINT, script)
    script.chmod(0o755)
    result = subprocess.run(
        ["setpriv", "--reuid=4321", "--regid=4321", "--clear-groups", str(script), "id", "-u"],
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "UMASK": "022"},
        cwd="/",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "4321"
    assert "not root: PUID/PGID ignored" in result.stderr
