"""Failed-login limiting: a few tries per address per window, then a wait."""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable


class FailureLimiter:
    """At most `max_failures` failures per key within `window_s`."""

    def __init__(
        self,
        max_failures: int = 5,
        window_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._clock = clock
        self._failures: defaultdict[str, deque[float]] = defaultdict(deque)

    def retry_after_s(self, key: str) -> float:
        """Seconds until `key` may try again; 0 when it may now."""
        failures = self._failures.get(key)
        if not failures:
            return 0.0
        now = self._clock()
        while failures and failures[0] <= now - self.window_s:
            failures.popleft()
        if len(failures) < self.max_failures:
            if not failures:
                del self._failures[key]
            return 0.0
        return failures[0] + self.window_s - now

    def failed(self, key: str) -> None:
        """Record a failure."""
        self._failures[key].append(self._clock())

    def succeeded(self, key: str) -> None:
        """Forget the failures of `key`."""
        self._failures.pop(key, None)
