"""A user's window on a show: the episode playing and the ones to have ready after it.

Pure: episodes in show order in, `Link`s out (item, source, distance, reason). A play of
E gives E (`playing`, when `cache.current_item`) and what follows it (`next_up`); a
scrobble of E slides the window by one: E leaves it and one more episode joins at the end.
How far ahead: the user's own `episodes_ahead` when set for them, else
`cache.prefetch_minutes` of runtime when set, else `cache.next_episodes`.
"""

from __future__ import annotations

from dataclasses import dataclass

from cacherr.claims import Claim, Source, UserKind, claim_priority, window_reason
from cacherr.claims.reasons import episode_code
from cacherr.config.models import Settings
from cacherr.plex.library import ItemRef, cover_minutes
from cacherr.plex.users import EffectivePolicy, PlexUser

WINDOW_SOURCES: tuple[Source, Source] = ("playing", "next_up")


@dataclass(frozen=True)
class Link:
    """One item of a window."""

    item: ItemRef
    source: Source
    distance: int | None
    reason: str


def explicit_ahead(user: PlexUser, settings: Settings) -> int | None:
    """The user's `episodes_ahead` when their type default or override sets it."""
    users = settings.users
    override = users.overrides.get(user.name) or users.overrides.get(user.title)
    if override is not None and override.episodes_ahead is not None:
        return override.episodes_ahead
    base = {"main": users.main, "home": users.home, "shared": users.shared}[user.kind]
    return base.episodes_ahead


def ahead(following: list[ItemRef], user: PlexUser, settings: Settings) -> list[ItemRef]:
    """The episodes to have ready out of `following` (those after the anchor)."""
    count = explicit_ahead(user, settings)
    if count is None and settings.cache.prefetch_minutes > 0:
        return cover_minutes(following, settings.cache.prefetch_minutes)
    return following[: settings.cache.next_episodes if count is None else count]


def episode_window(
    episodes: list[ItemRef],
    anchor: ItemRef,
    user: PlexUser,
    settings: Settings,
    *,
    scrobbled: bool,
) -> list[Link]:
    """The window of `user` around `anchor` (played, or watched when `scrobbled`)."""
    keys = [e.rating_key for e in episodes]
    following = episodes[keys.index(anchor.rating_key) + 1 :] if anchor.rating_key in keys else []
    playing = (anchor.season, anchor.episode)
    links: list[Link] = []
    if scrobbled:
        chosen = following[:1] + ahead(following[1:], user, settings)
    else:
        chosen = ahead(following, user, settings)
        if settings.cache.current_item:
            links.append(Link(anchor, "playing", 0, window_reason(user.name, 0, playing, playing)))
    for distance, item in enumerate(chosen, start=1):
        reason = window_reason(user.name, distance, (item.season, item.episode), playing)
        if scrobbled:
            reason = reason.replace(", playing ", ", watched ")
        links.append(Link(item, "next_up", distance, reason))
    return links


def movie_window(movie: ItemRef, user: PlexUser, settings: Settings) -> list[Link]:
    """A movie being played: the movie itself (when `cache.current_item`)."""
    if not settings.cache.current_item:
        return []
    return [Link(movie, "playing", None, f"playing {movie.title} for {user.name}")]


def window_claims(
    links: list[Link],
    files: dict[str, list[str]],
    *,
    user: PlexUser,
    policy: EffectivePolicy,
    show_key: str,
    expires_at: float | None = None,
) -> list[Claim]:
    """One claim per file of each link (`files`: item rating key → media and sidecars)."""
    kind: UserKind = user.kind
    claims: dict[str, Claim] = {}
    for link in links:
        priority = claim_priority(
            link.source, user_kind=kind, boost=policy.priority_boost, distance=link.distance
        )
        for path in files.get(link.item.rating_key, []):
            claims.setdefault(
                path,
                Claim(
                    plex_path=path,
                    source=link.source,
                    user_id=user.id,
                    priority=priority,
                    reason=link.reason,
                    rating_key=link.item.rating_key,
                    show_key=show_key,
                    expires_at=expires_at,
                ),
            )
    return list(claims.values())


def describe(item: ItemRef) -> str:
    """ "The Expanse S01E02" or a movie's title."""
    if item.type == "episode":
        return f"{item.show_title or 'episode'} {episode_code(item.season, item.episode)}"
    return item.title
