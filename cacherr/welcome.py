"""What `cacherr run` prints once it listens: where to open the page from another machine,
whether the first visit creates the login, and what is still to set up (worded as
`cacherr check` words it)."""

from __future__ import annotations

import ipaddress
import socket

from cacherr.checks import NO_MAPPINGS, PLEX_NOT_CONFIGURED, Check, in_image
from cacherr.config.models import Settings

_ANY = ("", "0.0.0.0", "::")
# Docker's default bridge networks: an address there is the container's, not the server's.
_DOCKER_NETS = (ipaddress.ip_network("172.16.0.0/12"),)
# A documentation address (RFC 5737): connecting a UDP socket sends nothing, it only picks
# the interface (and so the address) the machine would use to reach the network.
_PROBE = ("192.0.2.1", 9)


def lan_address() -> str | None:
    """This machine's address on its network, or None when it has none."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(_PROBE)
            address = str(probe.getsockname()[0])
        except OSError:
            return None
    return None if ipaddress.ip_address(address).is_loopback else address


def page_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def page_addresses(host: str, port: int) -> tuple[list[str], str]:
    """The page's addresses as another machine reaches them, and a note (may be empty)."""
    if host not in _ANY:
        if _is_loopback(host):
            return [page_url(host, port)], (
                f"Only this machine can open it (the page listens on {host}); "
                "start with --host 0.0.0.0 to open it from your network."
            )
        return [page_url(host, port)], ""
    address = lan_address()
    if in_image():
        if address is None or any(ipaddress.ip_address(address) in n for n in _DOCKER_NETS):
            return [f"http://<your server's address>:{port}"], (
                "That is the port mapped to the container's 5757 (Unraid: the WebUI entry "
                "of the container's menu)."
            )
        return [page_url(address, port)], ""
    urls = [page_url(address, port)] if address else []
    name = socket.gethostname()
    if name and name != "localhost":
        urls.append(page_url(name, port))
    return urls or [f"http://<this machine's address>:{port}"], ""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: reachable as far as Cacherr can tell


def setup_gaps(settings: Settings) -> list[Check]:
    """What keeps Cacherr idle, as `cacherr check` reports it (no probing, no network)."""
    gaps: list[Check] = []
    if not settings.plex.url or settings.plex.token is None:
        gaps.append(PLEX_NOT_CONFIGURED)
    if not settings.paths.mappings:
        gaps.append(NO_MAPPINGS)
    return gaps


def needs_login_setup(settings: Settings) -> bool:
    """Whether the first visit to the page chooses the login."""
    web = settings.web
    configured = bool(web.username) and (web.password_hash is not None or web.password is not None)
    return web.auth == "forms" and not configured


def first_run_message(
    settings: Settings, host: str, port: int, *, setup_code_line: str | None = None
) -> str:
    """The lines printed once the page listens.

    `setup_code_line` is where the one-time set-up code's line goes (the security side's
    function gives it); it is printed right under "open it to create your login".
    """
    urls, note = page_addresses(host, port)
    lines = ["Cacherr is running. Open the page from a browser on your network:"]
    lines += [f"  {urls[0]}" + (f"   (or {' or '.join(urls[1:])})" if urls[1:] else "")]
    if note:
        lines.append(f"  {note}")
    if needs_login_setup(settings):
        lines.append("Open it to create your login.")
        if setup_code_line:
            lines.append(f"  {setup_code_line}")
    elif settings.web.auth == "none":
        lines.append("The login is off (web.auth = none): anyone on your network can use it.")
    gaps = setup_gaps(settings)
    if gaps:
        lines.append("Still to set up (`cacherr check` tests everything):")
        lines += [gap.line() for gap in gaps]
    return "\n".join(lines)
