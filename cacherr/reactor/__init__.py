"""The reactor: playback events, the sweep and pins turned into claims, plans and operations."""

from cacherr.reactor.engine import CLAIMS_DROPPED, CacheEngine, Submitted
from cacherr.reactor.pins import Pins
from cacherr.reactor.reaction import REACTION, Reactor
from cacherr.reactor.sweep import STEPS, Sweeper, SweepResult

__all__ = [
    "CLAIMS_DROPPED",
    "REACTION",
    "STEPS",
    "CacheEngine",
    "Pins",
    "Reactor",
    "Submitted",
    "SweepResult",
    "Sweeper",
]
