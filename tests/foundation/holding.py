"""A transaction that holds the database's writer while a test queues writes behind it."""

from __future__ import annotations

import asyncio

from cacherr.db import Database


async def hold_writer(db: Database) -> tuple[asyncio.Task[None], asyncio.Event]:
    """Open a transaction that writes the row 'busy' and holds the writer until the returned
    event is set; returns (its task, that event) once it holds it."""
    inside, release = asyncio.Event(), asyncio.Event()

    async def busy() -> None:
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO kv (key, value) VALUES ('busy', '')")
            inside.set()
            await release.wait()

    holder = asyncio.create_task(busy())
    await inside.wait()
    return holder, release
