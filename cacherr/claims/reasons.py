"""The words a claim gives for itself, as the plan and the page show them."""

from __future__ import annotations


def episode_code(season: int | None, episode: int | None) -> str:
    """ "S02E01" (or "episode ?" when Plex did not say)."""
    if season is None or episode is None:
        return "episode ?"
    return f"S{season:02d}E{episode:02d}"


def window_reason(
    user: str,
    distance: int,
    episode: tuple[int | None, int | None],
    playing: tuple[int | None, int | None],
) -> str:
    """Why an episode of a user's window is claimed.

    "playing S01E10 for alice", "next episode (S02E01) for alice, playing S01E10",
    "3rd episode ahead (S02E03) for alice, playing S01E10".
    """
    now = episode_code(*playing)
    if distance == 0:
        return f"playing {now} for {user}"
    code = episode_code(*episode)
    if distance == 1:
        return f"next episode ({code}) for {user}, playing {now}"
    return f"{_ordinal(distance)} episode ahead ({code}) for {user}, playing {now}"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
