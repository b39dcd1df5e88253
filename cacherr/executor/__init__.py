"""The one operation queue between the planner and the on-disk protocol."""

from cacherr.executor.operation import Operation
from cacherr.executor.queue import Executor, MoverGuardLike

__all__ = ["Executor", "MoverGuardLike", "Operation"]
