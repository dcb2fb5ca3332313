"""A small cron matcher (five fields, UTC), pure: when is a schedule next due after a time.

Fields: minute (0-59), hour (0-23), day of month (1-31), month (1-12), day of week (0-7,
0 and 7 are Sunday). Each is `*`, a number, a range `a-b`, a list `a,b`, with an optional
step `*/n` or `a-b/n`. As in Vixie cron, when both day fields are restricted a day matches
either of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ..errors import ModelRolloutError

_BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_NAMES = ("minute", "hour", "day of month", "month", "day of week")
#: How far ahead to look (a schedule such as "0 0 30 2 *" never fires).
HORIZON = timedelta(days=366 * 4)


class CronError(ModelRolloutError, ValueError):
    """Not a five-field cron expression this matcher understands."""


@dataclass(frozen=True)
class Schedule:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool  # day of month is `*`
    any_weekday: bool  # day of week is `*`

    def day_matches(self, when: datetime) -> bool:
        if when.month not in self.months:
            return False
        dom = when.day in self.days
        dow = (when.isoweekday() % 7) in self.weekdays
        if self.any_day and self.any_weekday:
            return True
        if self.any_day:
            return dow
        if self.any_weekday:
            return dom
        return dom or dow

    def matches(self, when: datetime) -> bool:
        return self.day_matches(when) and when.hour in self.hours and when.minute in self.minutes


def _field(text: str, index: int) -> frozenset[int]:
    low, high = _BOUNDS[index]
    out: set[int] = set()
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
            raise CronError(f"{_NAMES[index]}: {part!r} is not a number, range or step") from None
        if step < 1 or start < low or end > high or start > end:
            raise CronError(f"{_NAMES[index]}: {part!r} is outside {low}-{high}")
        out.update(range(start, end + 1, step))
    return frozenset(out)


def parse(expression: str) -> Schedule:
    fields = expression.split()
    if len(fields) != 5:
        raise CronError(f"{expression!r}: expected 5 fields (minute hour day month weekday)")
    minutes, hours, days, months, weekdays = (_field(f, i) for i, f in enumerate(fields))
    return Schedule(
        minutes=minutes,
        hours=hours,
        days=days,
        months=months,
        weekdays=frozenset(d % 7 for d in weekdays),
        any_day=fields[2] == "*",
        any_weekday=fields[4] == "*",
    )


def next_after(schedule: Schedule, after: datetime) -> datetime | None:
    """The first minute strictly after `after` the schedule matches (None: not in 4 years)."""
    when = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    end = after + HORIZON
    while when <= end:
        if not schedule.day_matches(when):
            when = when.replace(hour=0, minute=0) + timedelta(days=1)
            continue
        if when.hour not in schedule.hours:
            when = when.replace(minute=0) + timedelta(hours=1)
            continue
        if when.minute in schedule.minutes:
            return when
        when += timedelta(minutes=1)
    return None
