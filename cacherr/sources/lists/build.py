"""A list's matched entries → `list` claims: air-date filter, max items, episodes per show,
priority, and the fill budget.

A `strict` list claims its matched items in list order up to `max_items`. A `fill` list
claims at a priority below every strict list (`FILL_OFFSET`) and only what fits, in list
order, in its budget: the smaller of the room the sweep reports as left after the higher
sources and the list's `fill_limit`; the first item that does not fit ends the list.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from cacherr.claims import Claim, claim_priority, episode_code
from cacherr.config.models import ImportList, parse_size
from cacherr.plex.library import ItemRef
from cacherr.sources.lists.plexside import PlexSide, SizeLookup
from cacherr.sources.lists.store import StoredItem

HOLDER_PREFIX: Final = "list:"
# Below every strict list claim (list weight 200, list priority down to -100).
FILL_OFFSET: Final = -200.0
# List order within one list's claims: the first entry ranks a little above the next.
POSITION_STEP: Final = 0.01
FILL_REASON: Final = "fill"


def holder(name: str) -> str:
    """The `user_id` of a list's claims."""
    return f"{HOLDER_PREFIX}{name}"


@dataclass(frozen=True)
class FillRoom:
    """What the sweep knows of the space when it asks for the lists' claims.

    `free_bytes` is the room left in Cacherr's budget after every higher source;
    `pool_total_bytes` resolves a `fill_limit` given as a percentage.
    """

    free_bytes: int | None = None
    pool_total_bytes: int | None = None


def released_recently(released: dt.date | None, days: int | None, today: dt.date) -> bool:
    """Whether an entry passes the air-date filter (unknown dates do not)."""
    if days is None:
        return True
    return released is not None and released >= today - dt.timedelta(days=days)


def pick(items: Sequence[StoredItem], definition: ImportList, today: dt.date) -> list[StoredItem]:
    """The matched entries a list claims: in order, filtered, each item once, `max_items`."""
    out: list[StoredItem] = []
    seen: set[str] = set()
    for item in items:
        if item.match_state != "matched" or item.rating_key is None or item.rating_key in seen:
            continue
        if not released_recently(item.entry.released, definition.released_within_days, today):
            continue
        seen.add(item.rating_key)
        out.append(item)
        if len(out) >= definition.max_items:
            break
    return out


def fill_budget(definition: ImportList, room: FillRoom | None) -> int | None:
    """Bytes a fill list may claim (None: no bound known, the planner's priority decides)."""
    bounds: list[int] = []
    if room is not None and room.free_bytes is not None:
        bounds.append(max(room.free_bytes, 0))
    if definition.fill_limit is not None:
        total = room.pool_total_bytes if room is not None else None
        try:
            bounds.append(parse_size(definition.fill_limit, total))
        except ValueError:
            bounds.append(0)  # a percentage without the pool size: claim nothing
    return min(bounds) if bounds else None


def take_in_order(
    groups: Sequence[Sequence[Claim]], sizes: Mapping[str, int], budget: int
) -> list[Claim]:
    """Whole items (their files together) in order while they fit in `budget`.

    An item whose files are gone is skipped; the first that does not fit ends the take, so
    a small item further down never jumps the queue.
    """
    taken: list[Claim] = []
    left = budget
    for group in groups:
        if any(c.plex_path not in sizes for c in group):
            continue
        need = sum(sizes[c.plex_path] for c in dict.fromkeys(group))
        if need > left:
            break
        taken.extend(group)
        left -= need
    return taken


def _reason(definition: ImportList, item: StoredItem, ref: ItemRef) -> str:
    what = item.entry.title or ref.title
    if ref.type == "episode":
        what = f"{ref.show_title or what} {episode_code(ref.season, ref.episode)}"
    text = f"#{item.position} on list '{definition.name}': {what}"
    if item.by_title:
        text += " (matched by title)"
    if definition.mode == "fill":
        text = f"{FILL_REASON}: {text}"
    return text


async def claims_for(
    definition: ImportList,
    items: Sequence[StoredItem],
    plex: PlexSide,
    *,
    today: dt.date,
    sizes: SizeLookup | None = None,
    room: FillRoom | None = None,
) -> list[Claim]:
    """The claims of one list (Plex errors propagate: the caller keeps the old claims)."""
    if not definition.enabled:
        return []
    base = claim_priority("list", boost=definition.priority)
    if definition.mode == "fill":
        base += FILL_OFFSET
    groups: list[list[Claim]] = []
    for rank, item in enumerate(pick(items, definition, today)):
        assert item.rating_key is not None
        if item.entry.kind == "show":
            refs = await plex.unwatched_episodes(
                item.rating_key, definition.users, definition.episodes_per_show
            )
        else:
            refs = [await plex.item(item.rating_key)]
        for step, ref in enumerate(refs):
            priority = base - POSITION_STEP * rank - POSITION_STEP / 100 * step
            groups.append([
                Claim(path, "list", holder(definition.name), priority,
                      _reason(definition, item, ref), rating_key=ref.rating_key,
                      show_key=ref.show_key)
                for path in dict.fromkeys(ref.files)
            ])  # fmt: skip
    if definition.mode == "fill":
        budget = fill_budget(definition, room)
        if budget is not None and sizes is not None:
            paths = [c.plex_path for g in groups for c in g]
            return take_in_order(groups, await sizes(paths), budget)
    return [c for g in groups for c in g]
