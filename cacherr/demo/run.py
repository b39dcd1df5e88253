"""The demo's sandbox: a simulated Plex, array and cache folders, a config, the real daemon."""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web

from cacherr.app import create_app
from cacherr.config.store import ConfigStore
from cacherr.demo.viewers import Viewers, write_database
from cacherr.fakeplex import FakePlexThread
from cacherr.fakeplex.sample import demo_world
from cacherr.welcome import page_addresses, page_url

log = logging.getLogger(__name__)

DEMO_FILE_BYTES = 8 * 2**20
# Two copies at once share it: each episode takes about 4 s.
DEMO_COPY_LIMIT_MIB_S = 4.0


def demo_settings(
    folder: Path, plex: Any, token: str, port: int, host: str = "127.0.0.1"
) -> dict[str, Any]:
    """The demo's settings: everything local, small timers; no login on loopback only (open
    to the network, the first visit creates one: the page can change paths)."""
    return {
        "plex": {
            "url": plex.url,
            "token": token,
            "plextv_url": plex.plextv_url,
            "discover_url": plex.discover_url,
            "metadata_url": plex.metadata_url,
            # Shared users' on-deck comes from Plex's database, as on a real server.
            "database_path": str(plex_database(folder)),
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
        "web": {"host": host, "port": port, "auth": "none" if _loopback(host) else "forms"},
        "mover": {"pid_file": str(folder / "mover.pid")},
    }


def plex_database(folder: Path) -> Path:
    """Where the demo keeps the simulated Plex's library database."""
    return folder / "plex" / "com.plexapp.plugins.library.db"


def _loopback(host: str) -> bool:
    return host in ("127.0.0.1", "::1", "localhost")


def _local(host: str) -> str:
    """The address this process reaches the page on (the simulated viewers' webhooks)."""
    return "127.0.0.1" if host in ("", "0.0.0.0", "::") else host


def run_demo(
    folder: Path | None, *, port: int = 5757, speed: float = 1.0, host: str = "127.0.0.1"
) -> int:
    """Run the daemon on a simulated Plex until interrupted; a sandbox it made is removed."""
    made = folder is None
    folder = folder or Path(tempfile.mkdtemp(prefix="cacherr-demo-"))
    try:
        return _run(folder, port=port, speed=speed, host=host)
    finally:
        if made:
            shutil.rmtree(folder, ignore_errors=True)
            print(f"Cacherr demo stopped: its sandbox {folder} was removed.", flush=True)
        else:
            print(f"Cacherr demo stopped: the sandbox stays in {folder} (--dir).", flush=True)


def _run(folder: Path, *, port: int, speed: float, host: str) -> int:
    (folder / "cache").mkdir(parents=True, exist_ok=True)
    world = demo_world(folder / "array", "/data", file_bytes=DEMO_FILE_BYTES)
    plex_database(folder).parent.mkdir(exist_ok=True)
    write_database(world, plex_database(folder))
    plex_thread = FakePlexThread(world)
    plex = plex_thread.start()
    try:
        store = ConfigStore.open(folder / "config")
        store.save(demo_settings(folder, plex, world.owner.token, port, host))
        secret = store.current.webhook.secret
        assert secret is not None
        hook_path = f"/api/webhooks/plex?secret={secret.get_secret_value()}"
        webhook = page_url(_local(host), port) + hook_path
        viewers = Viewers(world, webhook, step_s=6.0 / speed, plex_database=plex_database(folder))

        async def _viewers(_app: web.Application) -> AsyncIterator[None]:
            await viewers.start()
            yield
            await viewers.close()

        app = create_app(store)
        app.cleanup_ctx.append(_viewers)
        urls, note = page_addresses(host, port)
        login = "" if _loopback(host) else "\n  open it to create your login"
        message = (
            f"Cacherr demo: open {' or '.join(urls)}{login}\n"
            + (f"  {note}\n" if note else "")
            + f"  sandbox  {folder} (array/, cache/, config/)\n"
            f"  simulated Plex with {len(world.users)} users; viewers act every "
            f"{6.0 / speed:.1f} s; Ctrl-C stops"
        )

        def listening(_aiohttp_line: str) -> None:  # once the page answers
            print(message, flush=True)

        web.run_app(app, host=host, port=port, print=listening, access_log=None)
    finally:
        plex_thread.stop()
    return 0
