"""Business-time arithmetic: when a target of N working hours or days falls due.

SLA targets are promised in business hours ("a reply within 4 hours" means working hours)
or in plain clock hours (a critical ticket: 1 hour around the clock); callers pick per
target with `add_business_hours` / `add_business_days` or `add_clock_hours`.

A working day is its opening-closing span in *local* time of the calendar's zone, whatever
the UTC offset that day; each day's span is turned into UTC once and all arithmetic happens
in UTC, so a daylight-saving change never stretches or shrinks a 09:00-17:00 day. Time is
walked one calendar day at a time (never hour by hour), and every walk is capped at
`MAX_SPAN_DAYS`, so a ten-year target costs a few thousand steps and a calendar whose days
are all holidays fails with an error instead of looping.

The zone arrives ready-made (a `tzinfo`, a `ZoneInfo` in practice): the calendar is built at
the edge from the configuration (maildaemon/calendar_config.py), and this module stays pure.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo

MONDAY_TO_FRIDAY = frozenset(range(5))  # date.weekday(): Monday is 0
# No target walks further than this (about 100 years): the bound of every loop here.
MAX_SPAN_DAYS = 36_600
SPAN_MEMO = 4096  # days whose working span a calendar remembers (then it starts afresh)


@dataclass(frozen=True)
class Calendar:
    """A working week: which weekdays work, from when to when (local), and the holidays."""

    zone: tzinfo = UTC
    working_days: frozenset[int] = MONDAY_TO_FRIDAY
    # fromisoformat, not time(9, 0): the purity test forbids any call named time().
    opens: time = time.fromisoformat("09:00")
    closes: time = time.fromisoformat("17:00")
    holidays: frozenset[date] = field(default_factory=frozenset)
    # Each day's span in UTC, worked out once: a new ticket's due time walks the same few
    # days as the ticket before it, and the zone arithmetic was most of its cost. Not
    # part of the calendar's value (equality, hash, repr); bounded by SPAN_MEMO.
    _spans: dict[date, tuple[datetime, datetime] | None] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not self.working_days:
            raise ValueError("a calendar needs at least one working day")
        if not self.working_days <= frozenset(range(7)):
            raise ValueError(f"working days are 0 (Monday) to 6, not {sorted(self.working_days)}")
        if self.opens.tzinfo is not None or self.closes.tzinfo is not None:
            raise ValueError("opening and closing are local wall-clock times, without a zone")
        if self.opens >= self.closes:
            raise ValueError(f"the working day must open ({self.opens:%H:%M}) "
                             f"before it closes ({self.closes:%H:%M})")

    @property
    def day_length(self) -> timedelta:
        """The wall-clock length of one working day: what "one business day" is worth."""
        return _on(date.min, self.closes) - _on(date.min, self.opens)

    def working_span(self, day: date) -> tuple[datetime, datetime] | None:
        """That local day's working time in UTC, or None on a day off."""
        if day in self._spans:
            return self._spans[day]
        if len(self._spans) >= SPAN_MEMO:
            self._spans.clear()
        span = self._spans[day] = self._working_span(day)
        return span

    def _working_span(self, day: date) -> tuple[datetime, datetime] | None:
        if day.weekday() not in self.working_days or day in self.holidays:
            return None
        opens = _on(day, self.opens, self.zone).astimezone(UTC)
        closes = _on(day, self.closes, self.zone).astimezone(UTC)
        # A span across a DST gap can come out empty (e.g. 02:30-03:15 on spring-forward day).
        return (opens, closes) if opens < closes else None


def add_clock_hours(start: datetime, hours: float) -> datetime:
    """Plain elapsed hours, around the clock (the critical targets)."""
    return _utc(start) + _duration(hours, "hours")


def add_business_hours(start: datetime, hours: float, cal: Calendar) -> datetime:
    """The moment `hours` of working time after `start`, in UTC.

    Outside working time the clock starts at the next opening, so 0 hours gives that
    opening (or `start` itself inside working hours). A target that ends exactly at closing
    time falls due then, not at the next opening.
    """
    remaining = _duration(hours, "hours")
    begin = _utc(start)
    for opens, closes in _spans_from(begin, cal):
        clock_from = max(begin, opens)
        available = closes - clock_from
        if available <= timedelta(0):
            continue
        if remaining <= available:
            return clock_from + remaining
        remaining -= available
    raise ValueError(f"a target of {hours} business hours lies more than "
                     f"{MAX_SPAN_DAYS} days ahead in this calendar")


def add_business_days(start: datetime, days: float, cal: Calendar) -> datetime:
    """`days` whole working days of time: from an opening, due at a closing.

    One business day is worth the calendar's day length in business hours, so Monday 10:00
    plus 5 days is the next Monday 10:00, and a ticket of Friday evening is due at the close
    of the following Friday. Counting in hours keeps it consistent with
    `business_hours_between`, which the paused clock and "how late" use.
    """
    if isinstance(days, bool) or not 0 <= days <= MAX_SPAN_DAYS:  # NaN fails it too
        raise ValueError(f"days must be a number from 0 to {MAX_SPAN_DAYS}, not {days!r}")
    return add_business_hours(start, days * cal.day_length / timedelta(hours=1), cal)


def business_hours_between(a: datetime, b: datetime, cal: Calendar) -> float:
    """Working hours from `a` to `b`; negative when `b` is before `a`."""
    begin, end = _utc(a), _utc(b)
    if end < begin:
        return -business_hours_between(b, a, cal)
    if (end - begin).days > MAX_SPAN_DAYS:
        raise ValueError(f"cannot count business hours over more than {MAX_SPAN_DAYS} days")
    total = timedelta(0)
    for opens, closes in _spans_from(begin, cal):
        if opens >= end:
            break
        overlap = min(closes, end) - max(opens, begin)
        total += max(overlap, timedelta(0))
    return total / timedelta(hours=1)


def _spans_from(begin: datetime, cal: Calendar) -> Iterator[tuple[datetime, datetime]]:
    """Working spans (UTC) from the local day of `begin` on, at most MAX_SPAN_DAYS days."""
    first = begin.astimezone(cal.zone).date()
    for offset in range(MAX_SPAN_DAYS + 1):
        try:
            day = first + timedelta(days=offset)
        except OverflowError:  # past year 9999: nothing more to walk
            return
        span = cal.working_span(day)
        if span is not None:
            yield span


def _on(day: date, at: time, zone: tzinfo | None = None) -> datetime:
    return datetime.combine(day, at, tzinfo=zone)


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"a moment must carry its time zone (UTC), not naive {moment}")
    return moment.astimezone(UTC)


def _duration(amount: float, unit: str) -> timedelta:
    """`amount` hours as a timedelta; negative, NaN and too large amounts are refused."""
    # Written so that NaN fails it: every comparison with NaN is false.
    if isinstance(amount, bool) or not 0 <= amount <= MAX_SPAN_DAYS * 24:
        raise ValueError(f"{unit} must be a number from 0 to {MAX_SPAN_DAYS * 24}"
                         f" ({MAX_SPAN_DAYS} days), not {amount!r}")
    return timedelta(hours=amount)
