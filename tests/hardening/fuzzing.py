"""Shared pieces of the fuzz tests: the case budget and the checks every answer must pass.

CI runs a small budget (`CI_CASES` in total over the fuzz tests, about 30 s on 2 cores);
`CACHERR_FUZZ_CASES=10000` (or `python -m bench.fuzz`) runs the full campaign, shared out
in the same proportions.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

T = TypeVar("T")

CI_CASES = 800
ENVELOPE_KEYS = {"success", "data", "message", "error", "timestamp"}

# Cases carry strings of up to 300 000 characters: Hypothesis warns when it prints one, and
# the test client when it sends a body over 1 MiB as bytes.
LARGE_CASES = pytest.mark.filterwarnings(
    "ignore:Generating overly large repr:hypothesis.errors.HypothesisWarning",
    "ignore:Sending a large body directly with raw bytes:ResourceWarning",
)

# Share of the total budget each fuzz test spends.
SHARES = {"plex": 0.3, "tautulli": 0.2, "api": 0.5}


def total_cases() -> int:
    """The whole campaign's budget."""
    return int(os.environ.get("CACHERR_FUZZ_CASES", CI_CASES))


def budget(name: str) -> settings:
    """Hypothesis settings giving test `name` its share of the budget."""
    return settings(
        max_examples=max(10, int(total_cases() * SHARES[name])),
        deadline=None,
        derandomize=total_cases() == CI_CASES,  # CI: the same cases every run
        database=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
    )


# Strategies are built once and reused: Hypothesis inspects each new one (its recursion, the
# source of its lambdas), which cost more than drawing the cases when they were rebuilt per case.
@functools.cache
def json_values(max_leaves: int = 12) -> st.SearchStrategy[Any]:
    """Any JSON document, including long and odd strings."""
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**70), max_value=2**70)
        | st.floats(allow_nan=False, allow_infinity=False)
        | odd_text()
    )
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(odd_text(), inner, max_size=4),
        max_leaves=max_leaves,
    )


@functools.cache
def odd_text() -> st.SearchStrategy[str]:
    """Strings that break naive code: traversal, NUL, newlines, huge, unicode."""
    return st.one_of(
        st.text(max_size=40),
        st.sampled_from(
            [
                "",
                " ",
                "../../../../etc/passwd",
                "/etc/passwd",
                "/data/../../etc/shadow",
                "a\x00b",
                "line\nbreak",
                "%2e%2e%2f%2e%2e%2f",
                "1 OR 1=1",
                "'; DROP TABLE operations; --",
                "${jndi:ldap://x}",
                "\ud7ff\ue000\U0010ffff",
                "NaN",
                "-1",
                "99999999999999999999999999",
            ]
        ),
        st.integers(min_value=10_000, max_value=300_000).map(lambda n: "x" * n),
    )


def check_envelope(status: int, text: str) -> dict[str, Any]:
    """No 5xx, and the answer is the JSON envelope."""
    assert status < 500, f"{status}: {text[:500]}"
    body = json.loads(text)
    assert isinstance(body, dict), text[:200]
    assert set(body) == ENVELOPE_KEYS, text[:200]
    assert body["success"] is (status < 400), text[:200]
    return body


async def fuzz(
    strategy: st.SearchStrategy[T], config: settings, check: Callable[[T], Awaitable[None]]
) -> None:
    """Run `check` on every generated case, in the test's loop (with the app in it).

    Hypothesis drives synchronous tests only, so it runs on a worker thread and hands each
    case back to this loop.
    """
    loop = asyncio.get_running_loop()

    @config
    @given(strategy)
    def one(case: T) -> None:
        asyncio.run_coroutine_threadsafe(check(case), loop).result(timeout=120)

    await asyncio.to_thread(one)
