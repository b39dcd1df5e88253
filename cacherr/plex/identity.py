"""Cacherr's own `X-Plex-Client-Identifier`, kept in the config folder.

plexapi's default identifier is derived from the machine's MAC address, which a recreated
container changes: every plex.tv account would list a new device each time. One random id
per install is written once to `plex_client_id` in the config folder and sent with every
request. Blocking file I/O: call it off the event loop.
"""

from __future__ import annotations

import logging
import re
import uuid
from pathlib import Path

from cacherr.atomic import atomic_write_text

log = logging.getLogger(__name__)

CLIENT_ID_FILE = "plex_client_id"
_VALID = re.compile(r"[0-9A-Za-z-]{8,64}")


def client_identifier(config_dir: Path) -> str:
    """The install's identifier: read from the config folder, or made and saved there once.

    An unreadable or malformed file is left as it is and a fresh id is used for this run
    (logged), so a damaged file never stops Cacherr from reaching Plex.
    """
    path = config_dir / CLIENT_ID_FILE
    try:
        found = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        found = None
    except OSError as exc:
        log.warning("Cannot read %s (%s): a new Plex client id is used for this run", path, exc)
        return f"cacherr-{uuid.uuid4()}"
    if found is not None:
        if _VALID.fullmatch(found):
            return found
        log.warning("%s is not a Plex client id: a new one is used for this run", path)
        return f"cacherr-{uuid.uuid4()}"
    made = f"cacherr-{uuid.uuid4()}"
    try:
        atomic_write_text(path, made + "\n")
    except OSError as exc:
        log.warning("Cannot save %s (%s): the Plex client id lasts this run only", path, exc)
    return made
