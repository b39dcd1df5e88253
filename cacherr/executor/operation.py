"""One operation as the queue holds it: what it moves, where it stands, how it ranks."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Literal

from cacherr.files.copy import CopyControl
from cacherr.files.model import FileLocation, Kind, Outcome

State = Literal["queued", "waiting", "running", "finished"]


@dataclass(eq=False)
class Operation:
    """One queued or running operation; `result` resolves to its `Outcome`.

    `holder` is whose claim it serves (None: nobody's, e.g. a restore), `show` the show that
    claim is for (None: a movie or not known) and `item` the Plex item it belongs to (a media
    file and its sidecars share one), which the queue's fair order counts by; `after` are
    operations that must finish first (evictions making room for a copy); `disk` is the
    array disk a copy reads from, when it can be told; `size_bytes` the file's size as the
    planner saw it (None: not told), and `batched` whether it runs in a batch with other
    small copies (one task for all).
    """

    id: int
    kind: Kind
    location: FileLocation
    rating_key: str | None = None
    reason: str | None = None
    priority: float = 0.0
    holder: str | None = None
    after: tuple[Operation, ...] = ()
    show: str | None = None
    disk: str | None = None
    size_bytes: int | None = None
    batched: bool = False
    depth: int = 0
    window_depth: int = 0
    state: State = "queued"
    control: CopyControl = field(default_factory=CopyControl)
    result: asyncio.Future[Outcome] = field(default_factory=asyncio.Future)
    task: asyncio.Task[None] | None = None

    @property
    def key(self) -> tuple[str, str]:
        """The file it works on: (mapping name, relative path)."""
        return (self.location.mapping.name, self.location.rel)

    @property
    def item(self) -> str:
        """The Plex item it belongs to (its file when the item is not known)."""
        return self.rating_key or self.location.plex_path

    @property
    def window(self) -> tuple[str | None, str]:
        """The play (a holder's items of one show) the fair order counts first by."""
        return (self.holder, self.show or self.item)

    @property
    def blocked(self) -> bool:
        """Whether an operation it waits for has not finished yet."""
        return any(op.state != "finished" for op in self.after)

    def as_dict(self) -> dict[str, Any]:
        """For the page and the API."""
        return {
            "id": self.id,
            "kind": self.kind,
            "path": self.location.plex_path,
            "state": self.state,
            "reason": self.reason,
        }
