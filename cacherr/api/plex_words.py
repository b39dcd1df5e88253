"""Plex's connection state and connection failures in words a person acts on: what is wrong
and what to do, never a state code or an exception class name."""

from __future__ import annotations

import ssl

import aiohttp

from cacherr.plex.status import PlexStatus

EXAMPLE_URL = "http://192.168.1.10:32400"
_CHECK = (
    "Check the address and port (Plex listens on 32400 unless changed) under Settings → Plex, "
    "and that Plex is running."
)
_HEADLINES = {
    "not_configured": "Not set up",
    "connecting": "Connecting…",
    "connected": "Connected",
    "degraded": "Partly working",
    "down": "Unreachable",
}


def plain(problem: str) -> str:
    """A gateway problem ("Plex: no answer (ConnectionError)") without the class names."""
    if "no answer (" in problem:
        cause = problem.split("no answer (", 1)[1]
        return "no answer in time" if "Timeout" in cause else "nothing answers at that address"
    if "401" in problem:
        return "Plex refused the token"
    return problem


def plex_card(status: PlexStatus, url: str) -> dict[str, str]:
    """The Plex card's headline and what to do (`advice` empty when all is well)."""
    state = status.state
    headline = _HEADLINES.get(state, state)
    if state == "not_configured":
        return {
            "headline": headline,
            "detail": "Cacherr has no Plex address and token yet, so it sees no playback.",
            "advice": "Enter them under Settings → Plex, then press Test the connection.",
        }
    if state == "down":
        return {
            "headline": headline,
            "detail": f"Plex at {url}: {plain(status.message)}.",
            "advice": _CHECK if "token" not in plain(status.message) else
            "Enter a current token under Settings → Plex.",
        }  # fmt: skip
    if state == "degraded":
        return {
            "headline": headline,
            "detail": status.message,
            "advice": "Cacherr keeps trying; nothing needs doing unless this lasts.",
        }
    return {"headline": headline, "detail": status.message, "advice": ""}


def address_problem(url: str, token: str) -> str | None:
    """Why the Plex test cannot start with these fields, with what to type; None when it can."""
    if not url:
        return f"Enter the Plex server's address first, e.g. {EXAMPLE_URL}, and its token."
    if not url.startswith(("http://", "https://")):
        return f"Write the address with http:// or https:// in front, e.g. {EXAMPLE_URL}."
    if not token:
        return (
            "Enter the Plex token too (Plex's support article “Finding an authentication "
            "token / X-Plex-Token” shows where to find it)."
        )
    return None


def reach_problem(url: str, exc: BaseException, timeout_s: float) -> str:
    """Why `url` could not be reached, and what to do."""
    if isinstance(exc, TimeoutError):
        return f"No answer from {url} within {timeout_s:g} s. {_CHECK}"
    if isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError):
        return (
            f"{url} answered with a TLS certificate Cacherr does not trust. Use http:// on the "
            "local network, or turn off Verify TLS under Settings → Plex."
        )
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return f"The host name in {url} is not known on this network. {_CHECK}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"Nothing answers at {url}. {_CHECK}"
    return f"Talking to {url} failed ({exc}). {_CHECK}"
