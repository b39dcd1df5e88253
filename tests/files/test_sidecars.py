"""Sidecars on real folders: which files travel with a media file under each policy."""

from __future__ import annotations

from pathlib import Path

import pytest

from cacherr.files.sidecars import belongs_to, find_sidecars, is_media

NAMES = [
    "Show - S01E01.mkv",
    "Show - S01E01.en.srt",
    "Show - S01E01.en.forced.srt",
    "Show - S01E01.EN.SDH.ASS",
    "Show - S01E01.idx",
    "Show - S01E01.sub",
    "Show - S01E01.nfo",
    "Show - S01E01-thumb.jpg",
    "Show - S01E01.mp4",  # another version: media, never a sidecar
    "Show - S01E01.srt.plexcached",
    ".Show - S01E01.en.srt.4.cacherr-tmp",
    "Show - S01E010.srt",  # another episode's stem
    "Show - S01E01-thumb.srt",  # dash joins artwork only
    "Show - S01E02.en.srt",
    "Show - S01E01",  # exactly the stem
]


@pytest.fixture
def media(tmp_path: Path) -> Path:
    for name in NAMES:
        (tmp_path / name).write_text(name)
    (tmp_path / "Show - S01E01.en.vtt").mkdir()  # a folder is no sidecar
    (tmp_path / "Show - S01E01.smi").symlink_to(tmp_path / "Show - S01E02.en.srt")
    return tmp_path / "Show - S01E01.mkv"


def names_of(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


def test_subtitles_by_default(media: Path) -> None:
    assert names_of(find_sidecars(media, "subtitles")) == [
        "Show - S01E01.EN.SDH.ASS",
        "Show - S01E01.en.forced.srt",
        "Show - S01E01.en.srt",
        "Show - S01E01.idx",
        "Show - S01E01.sub",
    ]


def test_all_takes_every_file_sharing_the_stem(media: Path) -> None:
    assert names_of(find_sidecars(media, "all")) == [
        "Show - S01E01-thumb.jpg",
        "Show - S01E01-thumb.srt",
        "Show - S01E01.EN.SDH.ASS",
        "Show - S01E01.en.forced.srt",
        "Show - S01E01.en.srt",
        "Show - S01E01.idx",
        "Show - S01E01.nfo",
        "Show - S01E01.sub",
    ]


def test_none(media: Path) -> None:
    assert find_sidecars(media, "none") == []
    assert not belongs_to(media, Path("Show - S01E01.en.srt"), "none")


def test_missing_folder_has_none(tmp_path: Path) -> None:
    assert find_sidecars(tmp_path / "gone" / "a.mkv", "all") == []
    (tmp_path / "file").write_text("")
    assert find_sidecars(tmp_path / "file" / "a.mkv", "all") == []


def test_belongs_to_rules(tmp_path: Path) -> None:
    media = tmp_path / "Movie (2020).mkv"
    assert belongs_to(media, Path("Movie (2020).de.srt"), "subtitles")
    assert not belongs_to(media, Path("Movie (2020).mkv"), "all")
    assert not belongs_to(media, Path("Movie (2020).nfo"), "subtitles")
    assert belongs_to(media, Path("Movie (2020).nfo"), "all")
    assert not belongs_to(media, Path("Movie (2020)"), "all")
    assert not belongs_to(media, Path("Movie (2021).srt"), "all")
    assert not belongs_to(media, Path("Movie (2020) extra.srt"), "all")


def test_is_media() -> None:
    assert is_media(Path("a.MKV"))
    assert is_media(Path("a.flac"))
    assert not is_media(Path("a.srt"))
