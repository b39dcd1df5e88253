"""Five-field cron expressions for the sweep schedule."""

from __future__ import annotations

import datetime as dt

import pytest

from cacherr.reactor.cron import Cron, CronError

T = dt.datetime(2026, 3, 14, 10, 7, 30)  # a Saturday


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("*/30 * * * *", dt.datetime(2026, 3, 14, 10, 30)),
        ("0 * * * *", dt.datetime(2026, 3, 14, 11, 0)),
        ("15 3 * * *", dt.datetime(2026, 3, 15, 3, 15)),
        ("0 4 * * 1-5", dt.datetime(2026, 3, 16, 4, 0)),
        ("0 4 * * 7", dt.datetime(2026, 3, 15, 4, 0)),
        ("0 0 1 * *", dt.datetime(2026, 4, 1, 0, 0)),
        ("5,10 10 * * *", dt.datetime(2026, 3, 14, 10, 10)),
        ("0 0 13 * 1", dt.datetime(2026, 3, 16, 0, 0)),  # day 13 or a Monday: either runs
        ("0 12 29 2 *", dt.datetime(2028, 2, 29, 12, 0)),
    ],
)
def test_next_matching_minute(text: str, expected: dt.datetime) -> None:
    assert Cron.parse(text).next_after(T) == expected


@pytest.mark.parametrize(
    "text", ["* * * *", "61 * * * *", "*/0 * * * *", "a * * * *", "0 0 31 2 *", "@hourly"]
)
def test_refused_expressions(text: str) -> None:
    with pytest.raises(CronError):
        Cron.parse(text).next_after(T)


def test_seconds_until_next() -> None:
    now = T.timestamp()
    assert Cron.parse("*/30 * * * *").seconds_until_next(now) == 22 * 60 + 30
