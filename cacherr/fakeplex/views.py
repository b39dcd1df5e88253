"""What one user sees: visible libraries, per-user watch state and On Deck.

On Deck follows Plex closely enough: items in progress, plus the next unwatched
episode of every show the user has started, newest activity first.
"""

from __future__ import annotations

from .model import Episode, Item, Library, Movie, Playable, Season, Show, User, leaves
from .world import World


def visible_libraries(world: World, user: User) -> list[Library]:
    """Libraries this user may browse (friends can be limited to some)."""
    libs = sorted(world.libraries.values(), key=lambda lib: lib.id)
    if user.library_ids is None:
        return libs
    return [lib for lib in libs if lib.id in user.library_ids]


def library_of(item: Item) -> Library:
    """The section an item belongs to."""
    if isinstance(item, Movie | Show):
        return item.library
    if isinstance(item, Season):
        return item.show.library
    return item.season.show.library


def can_see(world: World, user: User, item: Item) -> bool:
    """Whether ``user`` may fetch ``item``."""
    return library_of(item) in visible_libraries(world, user)


def is_watched(user: User, item: Playable) -> bool:
    """Watched at least once and not restarted since."""
    st = user.states.get(item.rating_key)
    return bool(st and st.view_count > 0 and st.view_offset_ms == 0)


def in_progress(user: User, item: Playable) -> bool:
    """Has a resume point."""
    st = user.states.get(item.rating_key)
    return bool(st and st.view_offset_ms > 0)


def leaf_counts(user: User, item: Show | Season) -> tuple[int, int]:
    """(leafCount, viewedLeafCount) for a show or season."""
    eps = leaves(item)
    return len(eps), sum(1 for ep in eps if is_watched(user, ep))


def _last_viewed(user: User, item: Playable) -> int:
    st = user.states.get(item.rating_key)
    return st.last_viewed_at or 0 if st else 0


def _show_deck(user: User, show: Show) -> tuple[Episode, int] | None:
    eps = [ep for ep in show.episodes() if ep.parent_index > 0]  # specials never on deck
    started = [ep for ep in eps if ep.rating_key in user.states]
    if not started:
        return None
    latest = max(started, key=lambda ep: _last_viewed(user, ep))
    when = _last_viewed(user, latest)
    if in_progress(user, latest):
        return latest, when
    after = eps[eps.index(latest) + 1 :]
    nxt = next((ep for ep in after if not is_watched(user, ep)), None)
    return (nxt, when) if nxt else None


def on_deck(world: World, user: User, libraries: list[Library]) -> list[Playable]:
    """Items on the user's deck within ``libraries``, most recent activity first."""
    ids = {lib.id for lib in libraries}
    found: list[tuple[int, Playable]] = []
    for item in world.items.values():
        if library_of(item).id not in ids:
            continue
        if isinstance(item, Movie) and in_progress(user, item):
            found.append((_last_viewed(user, item), item))
        elif isinstance(item, Show):
            deck = _show_deck(user, item)
            if deck:
                found.append((deck[1], deck[0]))
    found.sort(key=lambda pair: (-pair[0], pair[1].rating_key))
    return [item for _, item in found]
