"""Secrets out of text that leaves the process: the activity feed, the page's `log` events,
the settings the page is shown.

Two kinds: the values Cacherr keeps as secrets (the configured tokens, keys, passwords and
apprise URLs, which the caller lists), and credentials carried inside any URL whatever its
origin: a password in `scheme://user:password@host`, and the value of a query parameter
named like a credential (`X-Plex-Token=`, `token=`, `apikey=`, `secret=`, …). A Plex address
copied from "View XML" carries the owner's token that way, a list URL its key, a webhook
URL its secret. The scheme, host, path and parameter names stay, so the text still says
which service it was about.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

MASK: Final = "********"

_USERINFO = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^\s/@:]*):(?P<password>[^\s/@]+)@", re.I)
_PARAMETER = re.compile(
    r"(?P<name>[?&;](?:x-plex-token|[a-z_-]*token|api_?key|key|secret|password|passwd|pass|"
    r"auth|sig|signature)=)(?P<value>[^&#;\s'\"]+)",
    re.I,
)


def mask_url_credentials(text: str) -> str:
    """`text` with the password of every `user:password@` and credential parameters masked."""
    text = _USERINFO.sub(lambda m: f"{m['head']}:{MASK}@", text)
    return _PARAMETER.sub(lambda m: m["name"] + MASK, text)


def mask_secrets(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with each of `secrets` (longest first) and every URL credential masked."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return mask_url_credentials(text)
