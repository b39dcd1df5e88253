"""`/metrics` in Prometheus' text format (behind the API key, e.g. `?apikey=` in the scrape).

Counters and histograms are fed by the event bus (a synchronous listener, so nothing is
missed and nothing blocks); gauges of what is cached are read from the database at scrape
time; Plex calls come from the Plex transport's answer counter.
"""

from __future__ import annotations

import asyncio
import bisect
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Sequence

from aiohttp import web

from cacherr import events, keys
from cacherr.events import Event
from cacherr.files.queries import footprint
from cacherr.tasks import cancel_and_wait

LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
LAG_BUCKETS_S = (0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0)
LAG_PROBE_INTERVAL_S = 0.05
SWEEP_BUCKETS_S = (0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)


class Histogram:
    """A cumulative histogram with fixed buckets."""

    def __init__(self, buckets: Sequence[float]) -> None:
        self.buckets = tuple(buckets)
        self.counts = [0] * (len(self.buckets) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        """Count one observation."""
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value

    def lines(self, name: str) -> list[str]:
        """The exposition lines: cumulative buckets, sum and count."""
        out, running = [], 0
        for bound, count in zip((*self.buckets, float("inf")), self.counts, strict=True):
            running += count
            le = "+Inf" if bound == float("inf") else repr(bound)
            out.append(f'{name}_bucket{{le="{le}"}} {running}')
        out.append(f"{name}_sum {self.total}")
        out.append(f"{name}_count {running}")
        return out


class Metrics:
    """What Cacherr counts while it runs."""

    def __init__(self) -> None:
        self.operations: Counter[tuple[str, str]] = Counter()
        self.bytes_copied = 0
        self.reaction_latency = Histogram(LATENCY_BUCKETS_S)
        self.sweep_duration = Histogram(SWEEP_BUCKETS_S)
        self.loop_lag = Histogram(LAG_BUCKETS_S)
        self.loop_lag_max_s = 0.0

    async def watch_loop(self, interval_s: float = LAG_PROBE_INTERVAL_S) -> None:
        """Measure the event loop's lag: how late a timer fires (a blocked loop fires late)."""
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(interval_s)
            lag = max(0.0, loop.time() - started - interval_s)
            self.loop_lag.observe(lag)
            self.loop_lag_max_s = max(self.loop_lag_max_s, lag)

    def on_event(self, event: Event) -> None:
        """Bus listener."""
        match event:
            case events.OperationComplete(kind=kind, result=result):
                self.operations[(kind, result)] += 1
                if kind == "cache" and result == "done":
                    self.bytes_copied += event.size_bytes
            case events.CycleComplete(duration_s=duration_s):
                self.sweep_duration.observe(duration_s)
            case events.Reaction(latency_s=latency_s):
                self.reaction_latency.observe(latency_s)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _family(name: str, kind: str, text: str, samples: Iterable[str]) -> list[str]:
    return [f"# HELP {name} {text}", f"# TYPE {name} {kind}", *samples]


async def render(app: web.Application) -> str:
    """The whole exposition."""
    metrics = app[METRICS]
    managed = await footprint(app[keys.DB])
    files, size = managed.rows, managed.bytes
    lines = _family(
        "cacherr_cached_files", "gauge", "Files on the cache.", [f"cacherr_cached_files {files}"]
    )
    lines += _family(
        "cacherr_cached_bytes", "gauge", "Bytes on the cache.", [f"cacherr_cached_bytes {size}"]
    )
    lines += _family(
        "cacherr_operations_total",
        "counter",
        "Operations finished, by kind and result.",
        (
            f'cacherr_operations_total{{kind="{_escape(k)}",result="{_escape(r)}"}} {n}'
            for (k, r), n in sorted(metrics.operations.items())
        ),
    )
    lines += _family(
        "cacherr_copied_bytes_total",
        "counter",
        "Bytes copied to the cache.",
        [f"cacherr_copied_bytes_total {metrics.bytes_copied}"],
    )
    lines += _family(
        "cacherr_reaction_latency_seconds",
        "histogram",
        "From a playback event's arrival to its first copy starting.",
        metrics.reaction_latency.lines("cacherr_reaction_latency_seconds"),
    )
    lines += _family(
        "cacherr_sweep_duration_seconds",
        "histogram",
        "Duration of reconcile sweeps.",
        metrics.sweep_duration.lines("cacherr_sweep_duration_seconds"),
    )
    lines += _family(
        "cacherr_event_loop_lag_seconds",
        "histogram",
        f"How late a {LAG_PROBE_INTERVAL_S} s timer fires on the event loop (its stalls).",
        metrics.loop_lag.lines("cacherr_event_loop_lag_seconds"),
    )
    lines += _family(
        "cacherr_event_loop_lag_max_seconds",
        "gauge",
        "The longest event-loop stall seen since start.",
        [f"cacherr_event_loop_lag_max_seconds {metrics.loop_lag_max_s}"],
    )
    gateway = app.get(keys.PLEX)
    answers = sorted(gateway.transport.answers.items()) if gateway is not None else []
    lines += _family(
        "cacherr_plex_requests_total",
        "counter",
        "Requests to Plex and plex.tv, by service, endpoint and status.",
        (
            f'cacherr_plex_requests_total{{service="{lane}",endpoint="{_escape(endpoint)}",'
            f'status="{status}"}} {n}'
            for (lane, endpoint, status), n in answers
        ),
    )
    playback = app[keys.PLAYBACK].stats()
    lines += _family(
        "cacherr_playback_events_total",
        "counter",
        "Playback events heard, by outcome (foreign: from another Plex server, ignored).",
        (
            f'cacherr_playback_events_total{{outcome="{outcome}"}} {playback[outcome]}'
            for outcome in ("queued", "duplicates", "foreign", "overflowed")
        ),
    )
    return "\n".join(lines) + "\n"


async def metrics_handler(request: web.Request) -> web.Response:
    """Prometheus metrics."""
    return web.Response(text=await render(request.app), content_type="text/plain", charset="utf-8")


METRICS = web.AppKey("metrics", Metrics)


async def _loop_watch(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(app[METRICS].watch_loop(), name="loop-lag")
    yield
    await cancel_and_wait(task)


def setup_metrics(app: web.Application) -> None:
    """Count bus events from the start, watch the loop's lag, and serve `/metrics`."""
    metrics = Metrics()
    app[METRICS] = metrics
    app[keys.BUS].listen(metrics.on_event)
    app.cleanup_ctx.append(_loop_watch)
    app.router.add_get("/metrics", metrics_handler, name="metrics")
