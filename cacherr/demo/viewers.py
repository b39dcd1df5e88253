"""Simulated viewers: they play, finish episodes and add to watchlists, as Plex tells it.

Each step changes the simulated Plex (its sessions and watch state, which it also pushes on
its notification socket) and sends the webhook Plex would send — multipart with a `payload`
part — to the daemon's own webhook URL, so the demo exercises the same paths as a real
server with Plex Pass; now and then the owner's play on a friend's server arrives too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from cacherr.fakeplex import webhooks
from cacherr.fakeplex.model import Episode, Show, User
from cacherr.fakeplex.plexdb import write_plex_database
from cacherr.fakeplex.world import World

log = logging.getLogger(__name__)

FRIEND_SERVER = "demo-friends-server-0000000000000000000000"


@dataclass
class Viewer:
    """One simulated person working through a show."""

    user: User
    show: Show
    position: int = 0  # index into the show's regular episodes
    watched: list[str] = field(default_factory=list)


def regular_episodes(show: Show) -> list[Episode]:
    """The show's episodes in order, specials left out."""
    return [ep for season in show.seasons if season.index > 0 for ep in season.episodes]


class Viewers:
    """A task that moves the viewers along every `step_s` seconds."""

    def __init__(
        self,
        world: World,
        webhook_url: str,
        *,
        step_s: float = 6.0,
        seed: int = 1,
        plex_database: Path | None = None,
    ) -> None:
        self._world = world
        # Plex's own library database, which a real server keeps current as people watch:
        # shared users' on-deck is read from it (Plex gives no token for them).
        self._plex_database = plex_database
        self._url = webhook_url
        self._step_s = step_s
        self._random = random.Random(seed)
        shows = [item for item in world.items.values() if isinstance(item, Show)]
        people = [u for u in world.users if u.library_ids is None]
        self.viewers = [
            Viewer(user, shows[i % len(shows)], position=self._random.randint(0, 3))
            for i, user in enumerate(people)
        ]
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Begin the simulation."""
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        self._task = asyncio.create_task(self._run(), name="demo-viewers")

    async def close(self) -> None:
        """Stop the simulation."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._session is not None:
            await self._session.close()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._step_s)
            viewer = self._random.choice(self.viewers)
            try:
                await self.step(viewer)
                if self._plex_database is not None:
                    await asyncio.to_thread(write_database, self._world, self._plex_database)
            except aiohttp.ClientResponseError as exc:  # its text names the URL: the secret
                log.warning("Demo viewer %s: Cacherr answered %d", viewer.user.title, exc.status)
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning(
                    "Demo viewer %s could not reach Cacherr: %s",
                    viewer.user.title,
                    type(exc).__name__,
                )

    async def step(self, viewer: Viewer) -> None:
        """Finish what the viewer is watching (if anything), then play the next episode."""
        episodes = regular_episodes(viewer.show)
        if not episodes:
            return
        world = self._world
        current = episodes[viewer.position % len(episodes)]
        playing = [s for s in list(world.sessions.values()) if s.user is viewer.user]
        for session in playing:
            world.progress_session(session, int(current.duration_ms * 0.95))
            world.stop_session(session)
            await self._send("media.scrobble", viewer.user, current)
            viewer.position += 1
            current = episodes[viewer.position % len(episodes)]
        world.start_session(viewer.user, current, offset_ms=0, player="Demo TV")
        await self._send("media.play", viewer.user, current)
        log.info(
            "Demo: %s plays %s S%02dE%02d",
            viewer.user.title,
            viewer.show.title,
            current.parent_index,
            current.index,
        )
        if viewer.user is world.owner and self._random.random() < 0.25:
            # The owner's webhooks travel with them: a play on a friend's server arrives too,
            # naming that server; Cacherr ignores it (and counts it on the status).
            body = webhooks.payload(
                "media.play", world.owner, current, server_uuid=FRIEND_SERVER, own_server=False
            )
            await self._post(body)

    async def _send(self, event: str, user: User, episode: Episode) -> None:
        assert self._session is not None
        await self._post(webhooks.from_world(event, self._world, user, episode))

    async def _post(self, body: dict[str, object]) -> None:
        assert self._session is not None
        async with self._session.post(self._url, data=webhooks.form(body)) as resp:
            resp.raise_for_status()


def write_database(world: World, path: Path) -> None:
    """Plex's library database for the world, replaced whole (a reader never sees half)."""
    temp = path.with_name(path.name + ".new")
    temp.unlink(missing_ok=True)
    write_plex_database(world, temp)
    os.replace(temp, path)
