"""The order copies are made in: by priority, but never ahead of an earlier link of a window.

A window is the claims one holder has on one show from one source (alice's next episodes,
bob's on-deck run). Its links are ordered by their stored priority, which the episode term
makes "next episode, the one playing, then further episodes". Recency or a second user can
lift a later link above an earlier one; the later link is then held to the earlier link's
priority so that E+2 is never copied before E+1 of the same window.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from cacherr.claims.model import Claim


@dataclass(frozen=True, slots=True)
class Pending:
    """A claimed file not on the cache yet, with its size, priority and live claims."""

    plex_path: str
    size_bytes: int
    priority: float
    claims: tuple[Claim, ...]


def sequence(pending: Iterable[Pending]) -> list[Pending]:
    """Pending files in copy order (deterministic: ties go by window position, then path)."""
    items = {p.plex_path: p for p in pending}
    windows: dict[tuple[str, str, str], list[tuple[float, str]]] = {}
    for item in items.values():
        for claim in item.claims:
            if claim.show_key is not None:
                window = (claim.show_key, claim.source, claim.user_id)
                windows.setdefault(window, []).append((claim.priority, item.plex_path))
    chains = [
        [path for _, path in sorted(links, key=lambda link: (-link[0], link[1]))]
        for _, links in sorted(windows.items())
    ]
    rank = dict.fromkeys(items, 0)
    for chain in chains:
        for position, path in enumerate(chain):
            rank[path] = max(rank[path], position)
    # Ceilings only ever go down, so this settles; windows that disagree (two users with
    # the one playing swapped around) settle on a shared value and fall back on the rank.
    order = {path: item.priority for path, item in items.items()}
    changed = True
    while changed:
        changed = False
        for chain in chains:
            ceiling = math.inf
            for path in chain:
                if order[path] > ceiling:
                    order[path] = ceiling
                    changed = True
                ceiling = order[path]
    return [items[p] for p in sorted(items, key=lambda p: (-order[p], rank[p], p))]
