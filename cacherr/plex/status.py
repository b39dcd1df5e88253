"""The Plex connection's state as the rest of Cacherr sees it (health, page, notifications)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

PlexState = Literal["not_configured", "connecting", "connected", "degraded", "down"]


@dataclass
class PlexStatus:
    """Current state, why, and since when."""

    state: PlexState = "not_configured"
    message: str = ""
    since: float = field(default_factory=time.time)

    def as_dict(self) -> dict[str, object]:
        """The form `/api/health` shows."""
        return {"state": self.state, "message": self.message, "since": self.since}
