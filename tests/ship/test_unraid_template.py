"""The Community Applications template: required fields, and every variable it offers
maps to a real setting (or to the entrypoint's PUID/PGID/UMASK)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from pydantic import BaseModel

from cacherr.config.models import CacheConfig, Settings, WebConfig
from cacherr.files.mover import DEFAULT_PID_FILE, HOST_RUN
from tests.ship.test_unraid_walkthrough import docker_run

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "unraid" / "cacherr.xml"
CONFIG_ATTRIBUTES = {
    "Name",
    "Target",
    "Default",
    "Mode",
    "Description",
    "Type",
    "Display",
    "Required",
    "Mask",
}
# Read by docker/entrypoint.sh, not by Cacherr; TZ is allowed but Unraid sets it itself.
# HOST_POOL is read by `cacherr check` (the host's pool path).
CONTAINER_VARIABLES = {"PUID", "PGID", "UMASK", "TZ", "HOST_POOL"}


@pytest.fixture(scope="module")
def container() -> ET.Element:
    return ET.parse(TEMPLATE).getroot()


def configs(container: ET.Element, kind: str) -> dict[str, ET.Element]:
    return {c.attrib["Target"]: c for c in container.iter("Config") if c.attrib["Type"] == kind}


def setting_field(variable: str) -> tuple[type[BaseModel], str]:
    """`CACHERR_<SECTION>__<KEY>` resolved against the settings models (KeyError if none)."""
    parts = variable.removeprefix("CACHERR_").lower().split("__")
    model: type[BaseModel] = Settings
    for part in parts[:-1]:
        if part not in model.model_fields:
            raise KeyError(variable)
        annotation = model.model_fields[part].annotation
        assert isinstance(annotation, type) and issubclass(annotation, BaseModel), variable
        model = annotation
    if parts[-1] not in model.model_fields:
        raise KeyError(variable)
    return model, parts[-1]


def test_the_template_has_the_fields_community_applications_needs(
    container: ET.Element,
) -> None:
    assert container.tag == "Container" and container.attrib["version"] == "2"
    for tag in (
        "Name",
        "Repository",
        "Registry",
        "Network",
        "Support",
        "Project",
        "Overview",
        "Category",
        "WebUI",
        "Icon",
    ):
        text = container.findtext(tag)
        assert text and text.strip(), tag
    assert container.findtext("Name") == "Cacherr"
    assert container.findtext("Network") == "bridge"
    assert container.findtext("WebUI") == "http://[IP]:[PORT:5757]/"
    assert container.findtext("Category") == "Tools: MediaServer:Other"
    assert (ROOT / "unraid" / "icon.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert str(container.findtext("Icon")).endswith("/unraid/icon.png")
    for config in container.iter("Config"):
        assert set(config.attrib) == CONFIG_ATTRIBUTES, config.attrib["Name"]
        assert config.attrib["Type"] in {"Path", "Port", "Variable"}
        assert config.attrib["Display"] in {"always", "advanced", "hidden"}
        assert config.attrib["Required"] in {"true", "false"}
        assert config.attrib["Mask"] in {"true", "false"}
        assert config.attrib["Description"].strip(), config.attrib["Name"]
        assert (config.text or "") == config.attrib["Default"], config.attrib["Name"]


def test_paths_are_the_config_folder_and_the_same_host_paths(container: ET.Element) -> None:
    paths = configs(container, "Path")
    assert set(paths) == {"/config", "/mnt/user0", "/mnt/cache", str(HOST_RUN), "/host/mnt"}
    assert paths["/config"].attrib["Default"] == "/mnt/user/appdata/cacherr"
    for target in ("/mnt/user0", "/mnt/cache"):
        # Identical inside and out: the mover exclusion list holds host paths.
        assert paths[target].attrib["Default"] == target
        assert paths[target].attrib["Mode"] == "rw"
    assert paths["/config"].attrib["Mode"] == "rw"
    # The host's run folder, where the mover's pid file is read: read-only.
    assert paths[str(HOST_RUN)].attrib["Default"] == str(Path(DEFAULT_PID_FILE).parent)
    assert paths[str(HOST_RUN)].attrib["Mode"] == "ro"
    assert all(p.attrib["Required"] == "true" for p in paths.values())


def test_the_hosts_disks_are_mapped_read_only_where_cacherr_looks_for_them(
    container: ET.Element,
) -> None:
    """The array's own mapping (/mnt/user0) shows no /mnt/diskN: the host's /mnt, read-only,
    at a path of its own, and cache.disks_root pointed there, tell a copy's disk."""
    disks = configs(container, "Path")["/host/mnt"].attrib
    assert (disks["Default"], disks["Mode"]) == ("/mnt", "ro")
    assert "read-only" in disks["Description"] and "one copy per disk" in disks["Description"]
    root = configs(container, "Variable")["CACHERR_CACHE__DISKS_ROOT"].attrib
    assert root["Default"] == "/host/mnt"
    assert setting_field("CACHERR_CACHE__DISKS_ROOT") == (CacheConfig, "disks_root")


def test_the_port_is_the_web_port(container: ET.Element) -> None:
    ports = configs(container, "Port")
    default_port = WebConfig().port
    assert set(ports) == {str(default_port)}
    assert ports[str(default_port)].attrib["Mode"] == "tcp"
    assert ports[str(default_port)].attrib["Default"] == str(default_port)


def test_every_variable_is_a_setting_or_the_entrypoints(container: ET.Element) -> None:
    variables = configs(container, "Variable")
    cacherr = {name for name in variables if name.startswith("CACHERR_")}
    assert set(variables) - cacherr <= CONTAINER_VARIABLES
    assert {"PUID", "PGID", "UMASK"} <= set(variables)
    assert {"CACHERR_PLEX__URL", "CACHERR_PLEX__TOKEN", "CACHERR_WEBHOOK__SECRET"} <= cacherr
    for name in cacherr:
        model, key = setting_field(name)
        secret = "SecretStr" in str(model.model_fields[key].annotation)
        masked = variables[name].attrib["Mask"] == "true"
        assert masked == secret, f"{name}: Mask must be true exactly for secrets"
    assert variables["PUID"].attrib["Default"] == "99"
    assert variables["PGID"].attrib["Default"] == "100"
    assert variables["UMASK"].attrib["Default"] == "022"


def test_the_resolver_refuses_unknown_settings() -> None:
    assert setting_field("CACHERR_PLEX__URL")[1] == "url"
    with pytest.raises(KeyError):
        setting_field("CACHERR_PLEX__NOPE")
    with pytest.raises(KeyError):
        setting_field("CACHERR_NOSECTION__URL")


def test_the_host_pool_variable_defaults_to_the_pool_mount(container: ET.Element) -> None:
    pool = configs(container, "Path")["/mnt/cache"]
    host_pool = configs(container, "Variable")["HOST_POOL"]
    assert host_pool.attrib["Default"] == pool.attrib["Default"] == "/mnt/cache"


def test_the_template_offers_what_the_readmes_docker_run_sets(container: ET.Element) -> None:
    """Installing the template or typing the README's `docker run` gives one container."""
    readme = docker_run()
    paths = {target: c.attrib for target, c in configs(container, "Path").items()}
    for source, target, read_only in readme.volumes:
        assert paths[target]["Default"] == source, target
        assert paths[target]["Mode"] == ("ro" if read_only else "rw"), target
    assert set(paths) == {target for _, target, _ in readme.volumes}
    variables = configs(container, "Variable")
    for key, value in readme.env.items():
        if key != "TZ":  # Unraid passes its own
            assert variables[key].attrib["Default"] == value, key
    assert container.findtext("Repository") == readme.image
    assert [f"{p}:{p}" for p in configs(container, "Port")] == readme.ports
