"""The image's HEALTHCHECK: healthy while Cacherr answers `/api/health` and can write its
database (a full or read-only appdata folder stops all caching, so it shows as unhealthy).

Exit 0 when healthy, 1 otherwise, with the reason on stdout (`docker inspect` shows it).
The port follows CACHERR_WEB__PORT when set.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request


def main() -> int:
    """Ask the daemon, print the verdict, return the exit status."""
    port = os.environ.get("CACHERR_WEB__PORT") or "5757"
    url = f"http://127.0.0.1:{port}/api/health"
    try:
        with urllib.request.urlopen(url, timeout=4) as answer:
            health = json.load(answer)["data"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"unhealthy: {url} did not answer ({exc})")
        return 1
    database = health.get("database") or {}
    if not database.get("ok"):
        print(f"unhealthy: {database.get('message', 'no database state')}")
        return 1
    print(f"healthy: Cacherr {health.get('version', '?')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
