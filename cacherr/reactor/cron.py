"""Five-field cron expressions (`minute hour day-of-month month day-of-week`), local time.

Each field takes `*`, a number, a range `a-b`, a step `*/n` or `a-b/n`, and lists of those
separated by commas; day-of-week counts Sunday as 0 (7 works too). As in cron, when both
day fields are restricted a day matching either one runs. No names (`MON`, `JAN`) and no
`@hourly` shorthands.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

_BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_FIELDS = ("minute", "hour", "day of month", "month", "day of week")


class CronError(ValueError):
    """The expression is not a five-field cron expression this parser reads."""


def _field(text: str, index: int) -> frozenset[int]:
    low, high = _BOUNDS[index]
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        try:
            step = int(step_text) if step_text else 1
            if base == "*":
                start, end = low, high
            elif "-" in base:
                a, b = base.split("-", 1)
                start, end = int(a), int(b)
            else:
                start = int(base)
                end = high if step_text else start
        except ValueError:
            raise CronError(f"{_FIELDS[index]} field {text!r} is not understood") from None
        if step < 1 or not low <= start <= end <= high:
            raise CronError(f"{_FIELDS[index]} field {text!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    if index == 4 and 7 in values:
        values = (values - {7}) | {0}
    return frozenset(values)


@dataclass(frozen=True)
class Cron:
    """A parsed expression; `next_after(t)` is the first matching minute after `t`."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    any_day: bool
    any_weekday: bool

    @classmethod
    def parse(cls, text: str) -> Cron:
        """Parse `text`, or raise `CronError` saying which field is wrong."""
        fields = text.split()
        if len(fields) != 5:
            raise CronError(f"{text!r} has {len(fields)} fields; cron needs 5")
        minutes, hours, days, months, weekdays = (_field(f, i) for i, f in enumerate(fields))
        return cls(minutes, hours, days, months, weekdays, fields[2] == "*", fields[4] == "*")

    def _day_matches(self, day: dt.datetime) -> bool:
        if day.month not in self.months:
            return False
        by_date = day.day in self.days
        by_weekday = (day.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return by_date and by_weekday
        return by_date or by_weekday

    def next_after(self, after: dt.datetime) -> dt.datetime:
        """The first matching minute strictly after `after` (naive local time)."""
        t = after.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
        limit = t + dt.timedelta(days=366 * 5)
        while t < limit:
            if not self._day_matches(t):
                t = t.replace(hour=0, minute=0) + dt.timedelta(days=1)
            elif t.hour not in self.hours:
                t = t.replace(minute=0) + dt.timedelta(hours=1)
            elif t.minute not in self.minutes:
                t += dt.timedelta(minutes=1)
            else:
                return t
        raise CronError("the expression never matches (e.g. 31 February)")

    def seconds_until_next(self, now_s: float) -> float:
        """Seconds from the epoch time `now_s` to the next matching minute."""
        now = dt.datetime.fromtimestamp(now_s)
        return max((self.next_after(now) - now).total_seconds(), 0.0)
