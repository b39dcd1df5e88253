"""Which Host names the server answers to: the guard against DNS rebinding.

A web page can make the browser send requests to Cacherr under the page's own name by
pointing that name at the server's address (DNS rebinding); the Host header then carries the
page's name. Such a name is always a public DNS name, so Cacherr answers to:

- any IP address (IPv4, or IPv6 in brackets): in Docker's bridge mode the container cannot
  know which of the host's addresses the user typed, and an address cannot be rebound;
- `localhost`, a name without a dot (`tower`), and the local-only names of `.local`
  (mDNS), `.localhost`, `.home.arpa` and `.internal`, which no outside page can own;
- this machine's host name;
- the names listed in `web.allowed_hosts` (a reverse proxy's name, for example); `*` there
  answers to every name.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

LOCAL_SUFFIXES = (".local", ".localhost", ".home.arpa", ".internal")


def host_name(host_header: str) -> str:
    """The name of a Host header without its port, lower case (brackets kept off IPv6)."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


def own_names() -> frozenset[str]:
    """This machine's own host name (no DNS lookup: it must not block)."""
    name = socket.gethostname().lower().rstrip(".")
    return frozenset({name, name.split(".", 1)[0]} - {""})


def is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def host_allowed(host_header: str, allowed: Iterable[str], own: frozenset[str]) -> bool:
    """Whether a request sent to `host_header` may be answered."""
    name = host_name(host_header)
    if not name:
        return False
    if is_ip(name) or "." not in name or name.endswith(LOCAL_SUFFIXES) or name in own:
        return True
    listed = {host_name(item) for item in allowed}
    return "*" in listed or name in listed
