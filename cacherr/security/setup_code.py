"""The one-time set-up code: only someone who can read Cacherr's log or config folder may
choose the first login (the way Jupyter's token and Portainer's first-run window work).

On a fresh install (`web.auth = forms`, no login yet) the code is written to
`DIR/setup-code` (0600), printed in the log at start-up and shown by `cacherr check`.
`POST /api/auth/setup` needs it; the file is removed once the login exists.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import os
import secrets
from pathlib import Path

from cacherr.config.models import WebConfig

log = logging.getLogger(__name__)

FILE_NAME = "setup-code"
# No 0/O, 1/I/L: the code is read off a log and typed by hand.
_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
_LENGTH = 10  # ~50 bits; wrong codes count as failed logins (5 per 5 minutes per address)


def login_configured(web: WebConfig) -> bool:
    """Whether a login exists (set on the page or from the environment)."""
    return bool(web.username) and (web.password_hash is not None or web.password is not None)


def setup_required(web: WebConfig) -> bool:
    """Whether the first visit still has to choose the login."""
    return web.auth == "forms" and not login_configured(web)


def read(config_dir: Path) -> str | None:
    """The current code, or None when there is none (blocking: small file)."""
    try:
        return (config_dir / FILE_NAME).read_text(encoding="utf-8").strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def ensure(config_dir: Path) -> str:
    """The current code, made (0600) if there is none yet (blocking: small file)."""
    existing = read(config_dir)
    if existing:
        return existing
    code = "".join(secrets.choice(_ALPHABET) for _ in range(_LENGTH))
    code = f"{code[:5]}-{code[5:]}"
    path = config_dir / FILE_NAME
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # an empty or unreadable leftover
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(code + "\n")
    return code


def matches(given: str, expected: str) -> bool:
    """Whether a typed code is the code (case, spaces and dashes do not matter)."""

    def norm(code: str) -> bytes:
        return "".join(ch for ch in code.upper() if ch.isalnum()).encode()

    return bool(expected) and hmac.compare_digest(norm(given), norm(expected))


def discard(config_dir: Path) -> None:
    """Remove the code once the login exists (blocking: small file)."""
    with contextlib.suppress(FileNotFoundError):
        (config_dir / FILE_NAME).unlink()


def message(code: str, config_dir: Path) -> str:
    """The line that tells the owner how to create the login (log, first-run message)."""
    return (
        f"First visit: create the login on the page with the set-up code {code} "
        f"(also in {config_dir / FILE_NAME}, and shown by `cacherr check`)"
    )


def pending(config_dir: Path, web: WebConfig) -> str | None:
    """The code while the login is still to be chosen (made if there is none yet), else None
    (and a stale code is removed). For `cacherr run`'s first-run message. Blocking."""
    if not setup_required(web):
        discard(config_dir)
        return None
    return ensure(config_dir)


def announce(config_dir: Path, web: WebConfig) -> str | None:
    """At start-up: `pending`, and the code's line in the log. Blocking: run off the loop."""
    code = pending(config_dir, web)
    if code is None:
        return None
    # INFO on purpose: the activity feed and the page's events carry WARNING and above only,
    # so the code goes to the console log (docker logs) and nowhere a page could read it.
    log.info("%s", message(code, config_dir))
    return code
