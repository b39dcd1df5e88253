"""The operation queue between the planner and the on-disk protocol."""

from cacherr.executor.queue import Executor, MoverGuardLike, Operation

__all__ = ["Executor", "MoverGuardLike", "Operation"]
