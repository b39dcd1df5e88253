"""The machine's floor: a bare aiohttp app and event loop, measured beside the daemon.

`bench.load` runs this as its own process, at the daemon's CPU priority, while the load and
the copies run. It answers `GET /ping` with a small JSON body (the least an aiohttp API can
do) and probes its own event loop exactly as the daemon does (a 50 ms timer; how late it
fires). Whatever latency or stall this empty app shows comes from the machine (cores, disk,
the hypervisor), not from Cacherr: the daemon's figures are read against it.

    python -m bench.floor --port 8123      # GET /lag?reset=1 clears the samples
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

PROBE_INTERVAL_S = 0.05  # the daemon's (cacherr.metrics.LAG_PROBE_INTERVAL_S)
LAGS = web.AppKey("lags", list[float])


async def ping(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def lag(request: web.Request) -> web.Response:
    samples = sorted(request.app[LAGS])
    if request.query.get("reset"):
        request.app[LAGS].clear()
    if not samples:
        return web.json_response({"samples": 0, "p99_ms": 0.0, "max_ms": 0.0})
    return web.json_response(
        {
            "samples": len(samples),
            "p99_ms": samples[int(len(samples) * 0.99)] * 1000,
            "max_ms": samples[-1] * 1000,
        }
    )


async def probe(app: web.Application) -> AsyncIterator[None]:
    async def watch() -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(PROBE_INTERVAL_S)
            app[LAGS].append(max(0.0, loop.time() - started - PROBE_INTERVAL_S))

    task = asyncio.create_task(watch())
    yield
    task.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = web.Application()
    app[LAGS] = []
    app.cleanup_ctx.append(probe)
    app.router.add_get("/ping", ping)
    app.router.add_get("/lag", lag)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
