"""Login sessions: random tokens in an HttpOnly cookie, stored hashed in the database.

Only a SHA-256 of each token is stored, so a copy of the database does not log anyone in.
A fresh token is issued at every login (no session fixation) and logout deletes it.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from cacherr.db import Database

COOKIE_NAME = "cacherr_session"
_PREFIX = "session:"


@dataclass(frozen=True)
class Session:
    """A logged-in user."""

    username: str
    expires_at: float


def _key(token: str) -> str:
    return _PREFIX + hashlib.sha256(token.encode()).hexdigest()


class SessionStore:
    """Create, look up and end login sessions."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    async def create(self, username: str, ttl_s: float) -> str:
        """A new session's token (to be sent as the cookie)."""
        token = secrets.token_urlsafe(32)
        value = json.dumps({"username": username, "expires_at": self._clock() + ttl_s})
        await self._db.execute("INSERT INTO kv (key, value) VALUES (?, ?)", (_key(token), value))
        return token

    async def get(self, token: str) -> Session | None:
        """The live session of `token`, or None (expired ones are removed)."""
        if not token or len(token) > 200:
            return None
        row = await self._db.fetchone("SELECT value FROM kv WHERE key = ?", (_key(token),))
        if row is None:
            return None
        data = json.loads(row["value"])
        if data["expires_at"] < self._clock():
            await self.delete(token)
            return None
        return Session(data["username"], data["expires_at"])

    async def delete(self, token: str) -> None:
        """End one session."""
        await self._db.execute("DELETE FROM kv WHERE key = ?", (_key(token),))

    async def delete_all(self) -> None:
        """End every session (after a password change)."""
        await self._db.execute("DELETE FROM kv WHERE key LIKE ?", (_PREFIX + "%",))
