"""Password hashes with scrypt (standard library), compared in constant time.

Format: `scrypt$<log2 n>$<r>$<p>$<salt b64>$<hash b64>`. Hashing takes tens of
milliseconds on purpose: call these through `asyncio.to_thread`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

_LOG2_N, _R, _P = 14, 8, 1
MIN_LENGTH = 8


def hash_password(password: str) -> str:
    """A new salted hash of `password`."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**_LOG2_N, r=_R, p=_P, dklen=32)
    return "$".join(["scrypt", str(_LOG2_N), str(_R), str(_P), _b64(salt), _b64(digest)])


def verify_password(password: str, encoded: str) -> bool:
    """Whether `password` matches the stored hash (False for a malformed hash)."""
    try:
        scheme, log2_n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=2 ** int(log2_n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def check_strength(password: str) -> str | None:
    """Why `password` is refused, or None when acceptable."""
    if len(password) < MIN_LENGTH:
        return f"the password needs at least {MIN_LENGTH} characters"
    return None


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()
