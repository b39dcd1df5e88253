"""The demo's sandbox: a simulated Plex, array and cache folders, a config, the real daemon."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web

from cacherr.app import create_app
from cacherr.config.store import ConfigStore
from cacherr.demo.viewers import Viewers
from cacherr.fakeplex import FakePlexThread
from cacherr.fakeplex.sample import demo_world

log = logging.getLogger(__name__)

DEMO_FILE_BYTES = 8 * 2**20
# Two copies at once share it: each episode takes about 4 s.
DEMO_COPY_LIMIT_MIB_S = 4.0


def demo_settings(folder: Path, plex: Any, token: str, port: int) -> dict[str, Any]:
    """The demo's settings: everything local, small timers, no login on loopback."""
    return {
        "plex": {
            "url": plex.url,
            "token": token,
            "plextv_url": plex.plextv_url,
            "discover_url": plex.discover_url,
            "metadata_url": plex.metadata_url,
            "plextv_min_interval_ms": 0,
        },
        "paths": {
            "mappings": [
                {
                    "name": "media",
                    "plex": "/data",
                    "array": str(folder / "array"),
                    "cache": str(folder / "cache"),
                }
            ]
        },
        # Copies slowed to a pace a person can watch: an 8 MiB episode takes seconds, so the
        # page's progress bars and "Moving now" show what happens (a real setting too).
        "cache": {
            "next_episodes": 3,
            "limit": "2GB",
            "min_free": "1GB",
            "copy_limit_mib_s": DEMO_COPY_LIMIT_MIB_S,
        },
        "sessions": {"poll_interval_s": 2},
        "sweep": {"interval_s": 120},
        "retention": {"hours": 0.05},
        "web": {"host": "127.0.0.1", "port": port, "auth": "none"},
        "mover": {"pid_file": str(folder / "mover.pid")},
    }


def run_demo(folder: Path | None, *, port: int = 5757, speed: float = 1.0) -> int:
    """Run the daemon on a simulated Plex until interrupted."""
    folder = folder or Path(tempfile.mkdtemp(prefix="cacherr-demo-"))
    (folder / "cache").mkdir(parents=True, exist_ok=True)
    world = demo_world(folder / "array", "/data", file_bytes=DEMO_FILE_BYTES)
    plex_thread = FakePlexThread(world)
    plex = plex_thread.start()
    try:
        store = ConfigStore.open(folder / "config")
        store.save(demo_settings(folder, plex, world.owner.token, port))
        secret = store.current.webhook.secret
        assert secret is not None
        webhook = f"http://127.0.0.1:{port}/api/webhooks/plex?secret={secret.get_secret_value()}"
        viewers = Viewers(world, webhook, step_s=6.0 / speed)

        async def _viewers(_app: web.Application) -> AsyncIterator[None]:
            await viewers.start()
            yield
            await viewers.close()

        app = create_app(store)
        app.cleanup_ctx.append(_viewers)
        print(
            f"Cacherr demo: open http://127.0.0.1:{port}\n"
            f"  sandbox  {folder} (array/, cache/, config/)\n"
            f"  simulated Plex with {len(world.users)} users; viewers act every "
            f"{6.0 / speed:.1f} s; Ctrl-C stops",
            flush=True,
        )
        web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)
    finally:
        plex_thread.stop()
    return 0
