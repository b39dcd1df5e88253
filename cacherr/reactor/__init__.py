"""The reactor: playback events, the sweep and pins turned into claims, plans and operations."""

from cacherr.reactor.engine import CacheEngine, Submitted
from cacherr.reactor.pins import Pins
from cacherr.reactor.reaction import Reactor
from cacherr.reactor.sweep import STEPS, Sweeper, SweepResult

__all__ = [
    "STEPS",
    "CacheEngine",
    "Pins",
    "Reactor",
    "Submitted",
    "SweepResult",
    "Sweeper",
]
