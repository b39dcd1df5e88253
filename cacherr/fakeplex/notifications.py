"""What the simulated Plex pushes on `/:/websockets/notifications` when a session changes.

A Plex Media Server pushes JSON text frames `{"NotificationContainer": {...}}` to the owner's
token. A session changing state (playing, paused, buffering, stopped, and every progress
report while it plays) is a container of `type: "playing"` whose
`PlaySessionStateNotification` list holds `sessionKey`, `clientIdentifier`, `guid`,
`ratingKey`, `url`, `key`, `viewOffset`, `playQueueItemID` and `state` — no user, no show:
listeners read `/status/sessions` for those. Shape from python-plexapi's `AlertListener`
(`plexapi/alert.py`, which unwraps `NotificationContainer`), Tautulli's `web_socket.py`
(`type == "playing"` → `PlaySessionStateNotification[0]`) and Home Assistant's Plex
integration (`sessionKey`, `state`, `viewOffset`, `ratingKey` of the first entry).
"""

from __future__ import annotations

from typing import Any

from .model import Session


def play_session_state(session: Session, state: str) -> dict[str, Any]:
    """The notification of `session` now in `state` (`stopped` once it ended)."""
    key = session.item.rating_key
    return {
        "NotificationContainer": {
            "type": "playing",
            "size": 1,
            "PlaySessionStateNotification": [
                {
                    "sessionKey": str(session.session_key),
                    "clientIdentifier": session.player_id,
                    "guid": "",
                    "ratingKey": str(key),
                    "url": "",
                    "key": f"/library/metadata/{key}",
                    "viewOffset": session.view_offset_ms,
                    "playQueueItemID": 10_000 + session.session_key,
                    "state": state,
                }
            ],
        }
    }
