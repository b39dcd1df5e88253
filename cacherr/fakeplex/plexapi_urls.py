"""Point python-plexapi's hard-wired plex.tv URLs at the simulated Plex.

plexapi keeps its plex.tv base URLs as class attributes. ``point_plexapi_at`` rewrites,
and its ``restore()`` puts back:

* every ``str`` class attribute starting with ``https://plex.tv`` on ``MyPlexAccount``
  (``key``, ``FRIENDINVITE``, ``HOMEUSERS``, ``HOMEUSER``, ``PLEXSERVERS``,
  ``FRIENDSERVERS``, ``SIGNIN``, ``WEBHOOKS``, ``PING``, ...), ``MyPlexUser.key``,
  ``MyPlexResource.key``, ``MyPlexDevice.key``, ``MyPlexInvite.REQUESTS`` /
  ``REQUESTED`` and ``MyPlexPinLogin.PINS``;
* ``MyPlexAccount.DISCOVER`` and ``MyPlexAccount.METADATA``.

URLs written inline in plexapi methods (``publicIP``, ``geoip``, ``claimToken``, the
Sonos and privacy calls) cannot be redirected this way; nothing in Cacherr uses them.
"""

from __future__ import annotations

from types import TracebackType

from plexapi import myplex

PLEXTV = "https://plex.tv"
_CLASSES: tuple[type, ...] = (
    myplex.MyPlexAccount,
    myplex.MyPlexUser,
    myplex.MyPlexResource,
    myplex.MyPlexDevice,
    myplex.MyPlexInvite,
    myplex.MyPlexPinLogin,
)


class PlexapiUrlPatch:
    """The saved original values; ``restore()`` (or leaving the ``with``) undoes the patch."""

    def __init__(self, saved: list[tuple[type, str, str]]) -> None:
        self._saved = saved

    def restore(self) -> None:
        """Put plexapi's original URLs back."""
        for cls, name, value in reversed(self._saved):
            setattr(cls, name, value)
        self._saved = []

    def __enter__(self) -> PlexapiUrlPatch:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.restore()


def point_plexapi_at(plextv_url: str, discover_url: str, metadata_url: str) -> PlexapiUrlPatch:
    """Redirect plexapi's plex.tv, discover and metadata base URLs (process-wide)."""
    saved: list[tuple[type, str, str]] = []

    def put(cls: type, name: str, value: str) -> None:
        saved.append((cls, name, getattr(cls, name)))
        setattr(cls, name, value)

    for cls in _CLASSES:
        for name, value in list(vars(cls).items()):
            if isinstance(value, str) and value.startswith(PLEXTV + "/"):
                put(cls, name, plextv_url.rstrip("/") + value[len(PLEXTV) :])
    put(myplex.MyPlexAccount, "DISCOVER", discover_url.rstrip("/"))
    put(myplex.MyPlexAccount, "METADATA", metadata_url.rstrip("/"))
    return PlexapiUrlPatch(saved)
