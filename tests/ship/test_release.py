"""The release workflow (it cannot run here): it parses, runs on version tags, builds both
architectures Unraid runs on, pushes the repository the template pulls, and hands the
Dockerfile the version and revision its labels carry."""

from __future__ import annotations

import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from cacherr import __version__

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "release.yml"


@pytest.fixture(scope="module")
def workflow() -> dict[Any, Any]:
    loaded = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def steps(workflow: dict[Any, Any]) -> dict[str, dict[str, Any]]:
    """The steps of the one job, by the action they use (or their name)."""
    [job] = workflow["jobs"].values()
    return {step.get("uses", "").split("@")[0] or step["name"]: step for step in job["steps"]}


def test_it_runs_on_version_tags_only(workflow: dict[Any, Any]) -> None:
    # PyYAML reads the key `on` as True (YAML 1.1); GitHub reads it as "on".
    trigger = workflow[True]
    assert list(trigger) == ["push"]
    assert trigger["push"] == {"tags": ["v*.*.*"]}


def test_the_conventional_actions_in_order(workflow: dict[Any, Any]) -> None:
    used = [name for name in steps(workflow) if "/" in name]
    assert used == [
        "actions/checkout",
        "docker/setup-qemu-action",
        "docker/setup-buildx-action",
        "docker/login-action",
        "docker/metadata-action",
        "docker/build-push-action",
    ]
    login = steps(workflow)["docker/login-action"]["with"]
    assert login["password"] == "${{ secrets.DOCKERHUB_TOKEN }}"  # never a secret in the repo


def test_it_pushes_the_templates_repository_for_amd64_and_arm64(
    workflow: dict[Any, Any],
) -> None:
    meta = steps(workflow)["docker/metadata-action"]["with"]
    repository = ET.parse(ROOT / "unraid" / "cacherr.xml").getroot().findtext("Repository")
    assert f"{meta['images']}:latest" == repository
    assert meta["flavor"] == "latest=auto"  # `latest` for each release, not pre-releases
    assert "type=semver,pattern={{version}}" in meta["tags"]
    build = steps(workflow)["docker/build-push-action"]["with"]
    assert build["platforms"].split(",") == ["linux/amd64", "linux/arm64"]
    assert build["push"] is True
    assert build["labels"] == "${{ steps.meta.outputs.labels }}"


def test_the_build_args_are_the_dockerfiles_label_args(workflow: dict[Any, Any]) -> None:
    build = steps(workflow)["docker/build-push-action"]["with"]
    passed = dict(line.split("=", 1) for line in build["build-args"].splitlines())
    assert passed == {
        "VERSION": "${{ steps.meta.outputs.version }}",
        "REVISION": "${{ github.sha }}",
    }
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    for arg in passed:
        assert re.search(rf"^ARG {arg}=", dockerfile, re.MULTILINE), arg
        assert f'="${{{arg}}}"' in dockerfile, arg  # used by a label


@pytest.mark.parametrize(("tag", "ok"), [(f"v{__version__}", True), ("v0.0.0-nope", False)])
def test_the_version_check_step_compares_the_tag_with_the_package(tag: str, ok: bool) -> None:
    script = steps(yaml.safe_load(WORKFLOW.read_text()))["The tag matches the package version"]
    done = subprocess.run(
        ["bash", "-e", "-c", script["run"]],
        cwd=ROOT, env={"GITHUB_REF_NAME": tag, "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert (done.returncode == 0) is ok, done.stdout + done.stderr
