"""Path mappings against real folders: prefixes, normalisation, escapes and start-up checks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cacherr.config.models import Mapping
from cacherr.errors import PathRefused, Problem
from cacherr.files import names
from cacherr.files.paths import (
    UNION_FIX,
    Location,
    PathResolver,
    Placed,
    check_mappings,
    is_within,
    refused_mappings,
    remembering_realpath,
    shows_new_files,
    union_reason,
)


def make_mapping(tmp_path: Path, name: str = "tv", plex: str = "/data/tv", **kw: object) -> Mapping:
    array = tmp_path / "mnt" / "user0" / "media" / name
    cache = tmp_path / "mnt" / "cache" / "media" / name
    array.mkdir(parents=True, exist_ok=True)
    cache.mkdir(parents=True, exist_ok=True)
    fields: dict[str, object] = {
        "name": name,
        "plex": plex,
        "array": str(array),
        "cache": str(cache),
    }
    fields.update(kw)
    return Mapping.model_validate(fields)


@pytest.fixture
def tv(tmp_path: Path) -> Mapping:
    return make_mapping(tmp_path)


@pytest.fixture
def resolver(tmp_path: Path, tv: Mapping) -> PathResolver:
    shows = make_mapping(tmp_path, "tvshows", "/data/tvshows")
    movies = make_mapping(tmp_path, "movies", "/data", cacheable=False)
    return PathResolver([movies, tv, shows])


def test_from_plex_builds_both_sides(resolver: PathResolver, tv: Mapping) -> None:
    loc = resolver.from_plex("/data/tv/Show/Season 01/Show - S01E01.mkv")
    assert loc.mapping_name == "tv"
    assert loc.rel == "Show/Season 01/Show - S01E01.mkv"
    assert loc.plex_path == "/data/tv/Show/Season 01/Show - S01E01.mkv"
    assert loc.array_path == Path(tv.array) / loc.rel
    assert loc.cache_path == Path(tv.cache) / loc.rel
    assert loc.backup_path == names.backup_path(loc.array_path)
    assert loc.host_cache_path == str(loc.cache_path)
    assert loc.cacheable
    loc.require_cacheable()


def test_longest_prefix_wins_on_component_boundaries(resolver: PathResolver) -> None:
    assert resolver.from_plex("/data/tvshows/A/a.mkv").mapping_name == "tvshows"
    assert resolver.from_plex("/data/tv/A/a.mkv").mapping_name == "tv"
    assert resolver.from_plex("/data/tvx/a.mkv").mapping_name == "movies"
    assert [m.name for m in resolver.mappings] == ["tvshows", "tv", "movies"]


def test_normalises_dots_and_slashes(resolver: PathResolver) -> None:
    loc = resolver.from_plex("//data/tv/./Show//x/../a.mkv")
    assert loc.rel == "Show/a.mkv"
    # '..' may cross into another mapping: the normalised path decides which one.
    assert resolver.from_plex("/data/tv/../tvshows/A/a.mkv").mapping_name == "tvshows"


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("/data/tv/a\x00.mkv", "NUL"),
        ("/data/tv/a\n.mkv", "control"),
        ("/data/tv/a\t.mkv", "control"),
        ("/data/tv/a\x85.mkv", "control"),
        ("/data/tv/a\u2028.mkv", "control"),
        ("data/tv/a.mkv", "not an absolute"),
        ("/data/tv/Show/", "empty file name"),
        ("/data/tv", "root folder"),
        ("/data/tv/Show/..", "root folder"),
        ("/other/a.mkv", "no configured path mapping"),
        ("/data/tv/../../etc/passwd", "no configured path mapping"),
        ("/data/tv/a.mkv.plexcached", "own backup"),
        ("/data/tv/.a.mkv.3.cacherr-tmp", "own backup"),
    ],
)
def test_from_plex_refuses(resolver: PathResolver, path: str, reason: str) -> None:
    with pytest.raises(PathRefused, match=reason):
        resolver.from_plex(path)
    with pytest.raises(PathRefused, match=reason):  # the text alone says so
        resolver.place(path)


def test_refuses_non_text(resolver: PathResolver) -> None:
    with pytest.raises(PathRefused, match="not a text path"):
        resolver.from_plex(b"/data/tv/a.mkv")  # type: ignore[arg-type]


def test_symlinked_parent_escaping_a_root_is_refused(tmp_path: Path, tv: Mapping) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (Path(tv.array) / "Show").symlink_to(outside)
    resolver = PathResolver([tv])
    with pytest.raises(PathRefused, match="leaves the array root"):
        resolver.from_plex("/data/tv/Show/a.mkv")
    # By its text alone (a name for the mover's list, never a file to open) it is placed.
    assert resolver.place("/data/tv/Show/a.mkv") == Placed(tv, "Show/a.mkv")
    (Path(tv.cache) / "Other").symlink_to(outside)
    with pytest.raises(PathRefused, match="leaves the cache root"):
        resolver.from_rel("tv", "Other/a.mkv")
    assert list(outside.iterdir()) == []  # nothing touched


def test_a_one_pass_resolver_refuses_the_same_escapes_and_looks_at_each_folder_once(
    tmp_path: Path, tv: Mapping
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (Path(tv.array) / "Show").symlink_to(outside)
    one_pass = PathResolver([tv]).for_one_pass()
    with pytest.raises(PathRefused, match="leaves the array root"):
        one_pass.from_plex("/data/tv/Show/a.mkv")
    real = Path(tv.array) / "Real"
    real.mkdir()
    (Path(tv.array) / "Later").symlink_to(real)
    assert one_pass.from_plex("/data/tv/Later/a.mkv").rel == "Later/a.mkv"
    # Within the pass a folder's answer is kept; a new pass looks on disk again.
    (Path(tv.array) / "Later").unlink()
    (Path(tv.array) / "Later").symlink_to(outside)
    assert one_pass.from_plex("/data/tv/Later/b.mkv").rel == "Later/b.mkv"
    with pytest.raises(PathRefused, match="leaves the array root"):
        PathResolver([tv]).for_one_pass().from_plex("/data/tv/Later/b.mkv")


def test_a_one_pass_realpath_answers_as_the_systems_does(tmp_path: Path) -> None:
    """Resolving a folder once and each path below it by its last part gives what
    `os.path.realpath` gives: through links (absolute, relative, chained, to a missing
    place), missing parts, `..` and `.`."""
    root = tmp_path / "root"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "f.mkv").write_bytes(b"x")
    (root / "elsewhere").mkdir()
    (root / "abs").symlink_to(root / "a")
    (root / "a" / "rel").symlink_to("b")
    (root / "chain").symlink_to("abs")
    (root / "a" / "up").symlink_to("../elsewhere")
    (root / "dangling").symlink_to(root / "nowhere" / "deeper")
    (root / "loop1").symlink_to("loop2")
    (root / "loop2").symlink_to("loop1")
    paths = [
        "a/b/f.mkv", "abs/b/f.mkv", "abs/rel/f.mkv", "chain/rel/f.mkv", "a/up/x.mkv",
        "dangling/x.mkv", "missing/deeper/x.mkv", "a/../abs/b", "a/./b/f.mkv", "abs/rel/",
        "chain", "loop1/x",
    ]  # fmt: skip
    realpath = remembering_realpath()
    for rel in paths * 2:  # the second time from what the pass kept
        path = f"{root}/{rel}"
        assert realpath(path) == os.path.realpath(path), rel
    assert realpath("relative/x") == os.path.realpath("relative/x")


def test_symlink_inside_the_root_is_fine(tv: Mapping) -> None:
    real = Path(tv.array) / "Real"
    real.mkdir()
    (Path(tv.array) / "Alias").symlink_to(real)
    assert PathResolver([tv]).from_plex("/data/tv/Alias/a.mkv").rel == "Alias/a.mkv"


def test_symlinked_root_is_followed_on_both_sides(tmp_path: Path) -> None:
    target = tmp_path / "pool" / "tv"
    target.mkdir(parents=True)
    link = tmp_path / "tv-link"
    link.symlink_to(target)
    mapping = make_mapping(tmp_path, cache=str(link))
    assert PathResolver([mapping]).from_plex("/data/tv/a.mkv").cache_path == link / "a.mkv"


def test_from_rel(resolver: PathResolver) -> None:
    loc = resolver.from_rel("tv", "Show/./a.mkv")
    assert loc.rel == "Show/a.mkv"
    assert loc.plex_path == "/data/tv/Show/a.mkv"
    # The audit addresses Cacherr's own names through from_rel.
    assert resolver.from_rel("tv", "Show/a.mkv.plexcached").rel == "Show/a.mkv.plexcached"
    assert resolver.from_rel("tv", "Show/../a.mkv").rel == "a.mkv"


@pytest.mark.parametrize(
    ("rel", "reason"),
    [
        ("/etc/passwd", "must be relative"),
        ("..", "does not name a file"),
        ("../x", "does not name a file"),
        ("a/../../x", "does not name a file"),
        (".", "does not name a file"),
        ("Show/", "empty file name"),
        ("a\nb", "control"),
        ("", "empty"),
    ],
)
def test_from_rel_refuses(resolver: PathResolver, rel: str, reason: str) -> None:
    with pytest.raises(PathRefused, match=reason):
        resolver.from_rel("tv", rel)


def test_from_rel_unknown_mapping(resolver: PathResolver) -> None:
    with pytest.raises(PathRefused, match="no path mapping named 'nope'"):
        resolver.from_rel("nope", "a.mkv")


def test_not_cacheable_is_refused_for_moves(resolver: PathResolver) -> None:
    loc = resolver.from_plex("/data/Movie/m.mkv")
    assert not loc.cacheable
    with pytest.raises(PathRefused, match="cacheable: false"):
        loc.require_cacheable()
    with pytest.raises(PathRefused, match="cacheable: false"):
        resolver.for_move("/data/Movie/m.mkv")
    assert resolver.for_move("/data/tv/a.mkv").cacheable


def test_host_cache_translation(tmp_path: Path) -> None:
    mapping = make_mapping(tmp_path, host_cache="/mnt/cache/media/tv")
    loc = PathResolver([mapping]).from_plex("/data/tv/S/a b.mkv")
    assert loc.host_cache_path == "/mnt/cache/media/tv/S/a b.mkv"


def test_root_plex_prefix(tmp_path: Path) -> None:
    mapping = make_mapping(tmp_path, plex="/")
    loc = PathResolver([mapping]).from_plex("/x/a.mkv")
    assert loc.rel == "x/a.mkv"
    assert loc.plex_path == "/x/a.mkv"


def test_locations_are_hashable_and_compare_by_paths(resolver: PathResolver) -> None:
    a = resolver.from_plex("/data/tv/a.mkv")
    b = resolver.from_rel("tv", "a.mkv")
    assert a == b
    assert len({a, b}) == 1
    assert isinstance(a, Location)


def test_is_within() -> None:
    assert is_within("/a/b", "/a")
    assert is_within("/a", "/a")
    assert not is_within("/ab", "/a")
    assert is_within("/anything", "/")


# --- start-up checks ---------------------------------------------------------------------


def unraid(tmp_path: Path) -> Path:
    mnt = tmp_path / "mnt"
    for tier in ("user", "user0", "cache", "disk1"):
        (mnt / tier / "media" / "tv").mkdir(parents=True)
    return mnt


def mapping_of(array: Path, cache: Path, **kw: object) -> Mapping:
    fields: dict[str, object] = {"name": "tv", "plex": "/data/tv", "array": str(array)}
    fields.update(cache=str(cache), **kw)
    return Mapping.model_validate(fields)


def test_good_mappings_have_no_problems(tmp_path: Path) -> None:
    mnt = unraid(tmp_path)
    good = [
        mapping_of(mnt / "user0/media/tv", mnt / "cache/media/tv"),
        mapping_of(mnt / "disk1/media/tv", mnt / "cache/media/tv", name="d1", plex="/d1"),
    ]
    assert check_mappings(good) == []
    assert list((mnt / "cache/media/tv").iterdir()) == []  # the probe cleaned up


def test_user_share_with_its_pool_is_refused(tmp_path: Path) -> None:
    mnt = unraid(tmp_path)
    [problem] = check_mappings([mapping_of(mnt / "user/media/tv", mnt / "cache/media/tv")])
    assert refused_mappings([problem]) == {"tv"}
    assert problem.path == "paths.mappings.0.array"
    assert "/mnt/user union of share 'media'" in problem.message
    assert problem.message.endswith(UNION_FIX)
    assert "/mnt/user0/<share>" in str(problem)


def test_user_share_of_another_share_is_not_a_union(tmp_path: Path) -> None:
    mnt = unraid(tmp_path)
    (mnt / "cache/other").mkdir()
    assert union_reason(str(mnt / "user/media/tv"), str(mnt / "cache/other"), probe=False) is None
    # a disk is not a pool either
    assert union_reason(str(mnt / "user/media/tv"), str(mnt / "disk1/media/tv")) is None


def test_exclusive_share_symlink_is_refused(tmp_path: Path) -> None:
    pool = tmp_path / "pool" / "media"
    pool.mkdir(parents=True)
    link = tmp_path / "share"
    link.symlink_to(pool)
    [problem] = check_mappings([mapping_of(link, pool)])
    assert "resolves to the cache folder" in problem.message
    assert UNION_FIX in problem.message


def test_same_inode_on_both_sides_is_refused(tmp_path: Path) -> None:
    array, cache = tmp_path / "a", tmp_path / "c"
    (cache / "Show").mkdir(parents=True)
    (array / "Show").mkdir(parents=True)
    (cache / "Show" / "x.mkv").write_bytes(b"x")
    (cache / "other.mkv").write_bytes(b"y")  # no twin: skipped
    os.link(cache / "Show" / "x.mkv", array / "Show" / "x.mkv")
    [problem] = check_mappings([mapping_of(array, cache)], probe=False)
    assert "shows the same file as the cache (Show/x.mkv)" in problem.message


def test_probe_sees_a_union(tmp_path: Path) -> None:
    cache = tmp_path / "c"
    cache.mkdir()
    union = tmp_path / "u"
    union.symlink_to(cache)
    assert shows_new_files(str(union), str(cache))
    assert shows_new_files(str(tmp_path), str(cache)) is False
    assert list(cache.iterdir()) == []


def test_probe_on_a_read_only_cache_answers_false(tmp_path: Path) -> None:
    assert shows_new_files(str(tmp_path), str(tmp_path / "missing")) is False


def test_missing_and_non_folder_roots(tmp_path: Path) -> None:
    file = tmp_path / "file"
    file.write_text("")
    problems = check_mappings([mapping_of(tmp_path / "nope", file)])
    assert [(p.path, p.message) for p in problems] == [
        ("paths.mappings.0.array", f"the array folder {tmp_path / 'nope'} does not exist"),
        ("paths.mappings.0.cache", f"the cache folder {file} is not a folder"),
    ]


def test_not_cacheable_checks_only_the_array(tmp_path: Path) -> None:
    mapping = mapping_of(tmp_path, tmp_path / "missing", cacheable=False)
    assert check_mappings([mapping]) == []


def test_same_and_nested_folders(tmp_path: Path) -> None:
    inner = tmp_path / "inner"
    inner.mkdir()
    same = check_mappings([mapping_of(tmp_path, tmp_path)])
    assert [p.message for p in same] == [f"cache and array are the same folder ({tmp_path})"]
    cache_in = check_mappings([mapping_of(tmp_path, inner)], probe=False)
    assert [p.message for p in cache_in] == [
        f"the cache folder {inner} lies inside the array folder"
    ]
    array_in = check_mappings([mapping_of(inner, tmp_path)], probe=False)
    assert [p.message for p in array_in] == [
        f"the array folder {inner} lies inside the cache folder"
    ]


def test_duplicate_plex_prefix(tmp_path: Path) -> None:
    a = make_mapping(tmp_path, "a", "/data/tv")
    b = make_mapping(tmp_path, "b", "/data/tv")
    [problem] = check_mappings([a, b])
    assert refused_mappings([problem, Problem("x", "not a mapping's")]) == {"b"}
    assert problem.message == "mapping 'a' already uses the plex prefix /data/tv"


def test_sample_is_bounded_and_survives_missing_folders(tmp_path: Path) -> None:
    array, cache = tmp_path / "a", tmp_path / "c"
    (cache / "z").mkdir(parents=True)
    array.mkdir()
    for i in range(70):
        (cache / f"f{i:02}.mkv").write_bytes(b"")
    (array / "z").mkdir()
    (cache / "z" / "late.mkv").write_bytes(b"")
    (cache / "a-link.mkv").symlink_to(cache / "f00.mkv")  # symlinks are not sampled
    (array / "f01.mkv").write_bytes(b"")  # a twin by name only: a duplicate, not a union
    os.link(cache / "z" / "late.mkv", array / "z" / "late.mkv")
    # The twin lies beyond the sample of 64 files, so only the probe could have found it.
    assert union_reason(str(array), str(cache), probe=False) is None
    assert union_reason(str(array), str(tmp_path / "missing"), probe=False) is None
