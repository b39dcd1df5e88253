"""Paths that try to leave the mappings: from Plex, from the API. Refused, nothing touched.

The simulated Plex reports parts outside `/data`, climbing out with `..`, through a symlinked
folder or a symlinked file that point outside, or with a newline in the name; the API is
handed the same through the resolve preview, pins and the audit's fixes. The whole sandbox
(array, cache and the folder outside) is the same before and after, byte for byte.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cacherr import keys
from cacherr.fakeplex import World
from cacherr.fakeplex.model import Movie
from tests.hardening.conftest import (
    SECRETS,
    Client,
    journal_rows,
    plex_form,
    plex_payload,
    settle,
    snapshot,
)

SECRET_BYTES = b"outside the mappings: never read, never copied\n"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.mkv").write_bytes(SECRET_BYTES)
    (folder / "secret.srt").write_bytes(SECRET_BYTES)
    return folder


def _movie(world: World, title: str, plex_file: str) -> Movie:
    movie = world.add_movie(title, 2001)
    original = world.physical_path(movie.media[0].parts[0])
    original.unlink()
    movie.media[0].parts[0].file = plex_file
    return movie


@pytest.fixture
def escapes(world: World, root: Path, outside: Path) -> dict[str, Movie]:
    movies = root / "array" / "movies"
    (movies / "Linked").symlink_to(outside, target_is_directory=True)
    (movies / "Leaf (2001)").mkdir()
    (movies / "Leaf (2001)" / "Leaf (2001).mkv").symlink_to(outside / "secret.mkv")
    (movies / "Evil\nName (2001)").mkdir()
    (movies / "Evil\nName (2001)" / "Evil\nName (2001).mkv").write_bytes(b"x" * 100)
    return {
        "absolute": _movie(world, "Absolute", str(outside / "secret.mkv")),
        "dotdot": _movie(world, "Dotdot", "/data/../" + str(outside / "secret.mkv")),
        "dotdot_inside": _movie(world, "Climb", "/data/movies/../../../outside/secret.mkv"),
        "linked_folder": _movie(world, "Linked", "/data/movies/Linked/secret.mkv"),
        "linked_file": _movie(world, "Leaf", "/data/movies/Leaf (2001)/Leaf (2001).mkv"),
        "newline": _movie(world, "Evil", "/data/movies/Evil\nName (2001)/Evil\nName (2001).mkv"),
        "relative": _movie(world, "Relative", "movies/x.mkv"),
    }


def _tree(tmp_path: Path) -> dict[str, Any]:
    sides = ("sandbox/array", "sandbox/cache", "outside")
    return {side: snapshot(tmp_path / side) for side in sides}


async def test_items_plex_reports_outside_the_mappings_are_never_touched(
    daemon: Client, world: World, escapes: dict[str, Movie], tmp_path: Path
) -> None:
    before = _tree(tmp_path)
    owner = world.owner
    for movie in escapes.values():
        payload = plex_payload("media.play", world, owner, str(movie.rating_key))
        resp = await daemon.post(
            f"/api/webhooks/plex?secret={SECRETS['webhook']}", data=plex_form(payload)
        )
        assert resp.status == 202
        pin = await daemon.post("/api/pins", json={"rating_key": str(movie.rating_key)})
        assert pin.status < 500, await pin.text()
    await settle(daemon.app)
    sweep = await daemon.post("/api/sweep")
    assert sweep.status == 202
    await daemon.app[keys.SWEEPER].run_until_idle()
    await settle(daemon.app)
    assert _tree(tmp_path) == before
    assert await journal_rows(daemon.app) == []


async def test_a_symlinked_sidecar_pointing_outside_is_not_copied(
    daemon: Client, world: World, root: Path, outside: Path
) -> None:
    show = world.library("TV Shows")
    episode = next(it for it in world.items.values() if getattr(it, "title", "") == "Episode 1")
    media = world.physical_path(episode.media[0].parts[0])
    link = media.with_name(media.stem + ".fr.srt")
    link.symlink_to(outside / "secret.srt")
    before_outside = snapshot(outside)
    payload = plex_payload("media.play", world, world.owner, str(episode.rating_key))
    resp = await daemon.post(
        f"/api/webhooks/plex?secret={SECRETS['webhook']}", data=plex_form(payload)
    )
    assert resp.status == 202, show
    await settle(daemon.app)
    assert snapshot(outside) == before_outside
    assert link.is_symlink()
    copies = [p for p in (root / "cache").rglob("*") if p.is_file()]
    assert copies  # the episode itself was cached
    assert all(p.read_bytes() != SECRET_BYTES for p in copies)
    assert not any(p.name.endswith(".fr.srt") for p in copies)


BAD_PATHS = [
    "/data/../etc/passwd",
    "/etc/passwd",
    "/data/movies/Linked/secret.mkv",
    "/data/movies/a\nb.mkv",
    "/data/movies/a\x00b.mkv",
    "data/movies/x.mkv",
    "/data",
    "/data/movies/x.mkv.plexcached",
]


@pytest.mark.parametrize("plex_path", BAD_PATHS)
async def test_the_resolve_preview_refuses_paths_that_leave_the_mappings(
    daemon: Client, escapes: dict[str, Movie], plex_path: str
) -> None:
    resp = await daemon.get("/api/settings/resolve", params={"plex_path": plex_path})
    body = await resp.json()
    assert resp.status == 200, body
    assert body["data"]["ok"] is False, body


@pytest.mark.parametrize(
    "rating_key", ["../../accounts", "101/../102", "101?includeChildren=1", "-1", "1e3", "１０１"]
)
async def test_pins_take_only_plain_rating_keys(
    daemon: Client, world: World, root: Path, fake: Any, rating_key: str
) -> None:
    # Found here: fullwidth digits passed the pin's `\d+` and pinned item 101 under another
    # key; a key with a path in it would reach another Plex endpoint with the owner token.
    resp = await daemon.post("/api/pins", json={"rating_key": rating_key})
    assert resp.status in (400, 404), await resp.text()
    await settle(daemon.app)
    assert (await (await daemon.get("/api/pins")).json())["data"] in ([], {"items": []})
    assert snapshot(root / "cache") == {}
    assert fake.counter.count("/library/metadata/{rk}") == 0


@pytest.mark.parametrize("field", ["ratingKey", "grandparentRatingKey"])
async def test_a_webhook_rating_key_with_a_path_in_it_reaches_no_plex_endpoint(
    daemon: Client, world: World, root: Path, fake: Any, field: str
) -> None:
    # Found here: `102/../102` was normalised into item 102's URL and the movie cached; any
    # `../../<endpoint>?...` reached that Plex endpoint with the owner's token.
    episode = next(it for it in world.items.values() if getattr(it, "title", "") == "Episode 1")
    payload = plex_payload("media.play", world, world.owner, str(episode.rating_key))
    key = payload["Metadata"][field]
    payload["Metadata"][field] = f"{key}/../{key}"
    if field == "grandparentRatingKey":
        payload["Metadata"]["ratingKey"] = f"{episode.rating_key}/../{episode.rating_key}"
    resp = await daemon.post(
        f"/api/webhooks/plex?secret={SECRETS['webhook']}", data=plex_form(payload)
    )
    assert resp.status == 202
    await settle(daemon.app)
    assert await journal_rows(daemon.app) == []
    assert snapshot(root / "cache") == {}
    # The show's own (plain) key may still be read; the tainted ones reach nothing.
    assert fake.counter.count("/library/metadata/{rk}") == 0, fake.counter.by_route()


async def test_audit_fixes_refuse_paths_outside_the_mappings(
    daemon: Client, escapes: dict[str, Movie], tmp_path: Path, outside: Path
) -> None:
    # A stray temp name and a backup name outside the roots, so that a fix would delete or
    # rename something there if it followed the request.
    (outside / ".secret.mkv.1.cacherr-tmp").write_bytes(SECRET_BYTES)
    (outside / "secret.mkv.plexcached").write_bytes(SECRET_BYTES)
    before = _tree(tmp_path)
    rels = [
        "../../outside/.secret.mkv.1.cacherr-tmp",
        "../outside/secret.mkv.plexcached",
        str(outside / "secret.mkv.plexcached"),
        "movies/Linked/.secret.mkv.1.cacherr-tmp",
        "movies/Linked/secret.mkv.plexcached",
        "movies/a\nb.mkv",
        "movies/a\x00b.mkv",
    ]
    findings = [
        {"kind": kind, "mapping": "media", "rel": rel, "side": side or None}
        for rel in rels
        for kind, side in (("stray_temp", "cache"), ("stray_temp", "array"), ("orphan_backup", ""))
    ]
    resp = await daemon.post("/api/maintenance/fix", json={"findings": findings})
    body = await resp.json()
    assert resp.status < 500, body
    if resp.status == 200:
        assert not any(r["ok"] for r in body["data"]["results"]), body
    assert _tree(tmp_path) == before


@pytest.mark.parametrize("plex_path", [*BAD_PATHS, "/data/movies/Leaf (2001)/Leaf (2001).mkv"])
async def test_evict_refuses_paths_that_leave_the_mappings(
    daemon: Client, escapes: dict[str, Movie], tmp_path: Path, plex_path: str
) -> None:
    before = _tree(tmp_path)
    resp = await daemon.post("/api/files/evict", json={"path": plex_path})
    assert 400 <= resp.status < 500, await resp.text()
    await settle(daemon.app)
    assert _tree(tmp_path) == before
    assert await journal_rows(daemon.app) == []
