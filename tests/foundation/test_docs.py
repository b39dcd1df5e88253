"""The configuration reference (docs/configuration.md) is generated from the models and kept
in step; the README links to it."""

from __future__ import annotations

import re
from pathlib import Path

from cacherr.config.reference import render, rows, undocumented

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "configuration.md"


def test_every_setting_is_described() -> None:
    assert undocumented() == []
    keys = {key for key, *_ in rows()}
    # The names other people script against.
    assert {
        "plex.url",
        "plex.token",
        "plex.plextv_url",
        "plex.discover_url",
        "plex.metadata_url",
        "paths.mode",
        "paths.mappings[].host_cache",
        "cache.next_episodes",
        "cache.limit",
        "cache.min_free",
        "webhook.secret",
        "web.host",
        "web.port",
        "web.api_key",
        "sessions.poll_interval_s",
        "sweep.interval_s",
    } <= keys


def test_the_docs_carry_the_current_reference() -> None:
    assert render() in REFERENCE.read_text(encoding="utf-8"), (
        "docs/configuration.md is out of date: "
        "run `python -m cacherr.config.reference docs/configuration.md`"
    )


def test_the_readme_links_to_the_reference() -> None:
    assert "](docs/configuration.md)" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_a_sections_own_defaults_are_shown() -> None:
    # users.shared is built with watchlist and lists off (DESIGN.md: "watchlists and lists
    # default off for shared users"); the table once showed UserPolicy's plain `true`.
    found = {key: default for key, _t, default, _d in rows()}
    assert found["users.shared.watchlist"] == "`false`"
    assert found["users.shared.lists"] == "`false`"
    assert found["users.home.watchlist"] == "`true`"


def test_the_docs_links_lead_somewhere() -> None:
    # The README keeps what a user needs first and links to docs/ for the rest: a moved or
    # renamed page must not leave a dead link behind.
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#:]+)\)", page.read_text(encoding="utf-8")):
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"
