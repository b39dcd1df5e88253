"""Claims: "this file should be on the cache", who wants it, how much, until when; and pins."""

from cacherr.claims.model import (
    PERSONAL_SOURCES,
    SOURCES,
    Claim,
    ManagedFile,
    Pin,
    PinKind,
    Source,
    UserKind,
    pin_holder,
)
from cacherr.claims.priority import claim_priority, file_priority
from cacherr.claims.reasons import episode_code, window_reason
from cacherr.claims.store import Change, ClaimSet, ClaimStore

__all__ = [
    "PERSONAL_SOURCES",
    "SOURCES",
    "Change",
    "Claim",
    "ClaimSet",
    "ClaimStore",
    "ManagedFile",
    "Pin",
    "PinKind",
    "Source",
    "UserKind",
    "claim_priority",
    "episode_code",
    "file_priority",
    "pin_holder",
    "window_reason",
]
