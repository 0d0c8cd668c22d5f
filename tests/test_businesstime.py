"""Due times in business hours and days: weekends, holidays, closed hours and DST changes.

Each row is written in the calendar's local time, as a support lead would check it by hand;
the expected moment is then compared in UTC, so a row that comes out an hour off on a
daylight-saving weekend fails.
"""

from __future__ import annotations

import time as clock
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maildaemon.policy.businesstime import (
    MAX_SPAN_DAYS,
    Calendar,
    add_business_days,
    add_business_hours,
    add_clock_hours,
    business_hours_between,
)
from tests.conftest import HANG_GUARD_SECONDS

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
UTC_WEEK = Calendar()
BERLIN_WEEK = Calendar(zone=BERLIN)
NEW_YORK_WEEK = Calendar(zone=NEW_YORK)
CHRISTMAS = Calendar(holidays=frozenset({date(2026, 12, 25)}))
EVERY_DAY_BERLIN = Calendar(zone=BERLIN, working_days=frozenset(range(7)))
NEW_YORK_LATE = Calendar(zone=NEW_YORK, opens=time(9, 0), closes=time(23, 0))
NIGHTS_BERLIN = Calendar(zone=BERLIN, working_days=frozenset(range(7)),
                         opens=time(0, 0), closes=time(6, 0))


def local(cal: Calendar, text: str) -> datetime:
    """A wall-clock moment in the calendar's zone ("2026-03-27 16:00"), as an aware time."""
    return datetime.fromisoformat(text).replace(tzinfo=cal.zone)


# (why, calendar, start local, business hours, due local)
HOURS = [
    ("across a weekend", UTC_WEEK, "2026-03-06 15:00", 4, "2026-03-09 11:00"),
    ("across a holiday and a weekend", CHRISTMAS, "2026-12-24 16:00", 2, "2026-12-28 10:00"),
    ("before opening", UTC_WEEK, "2026-12-01 07:00", 1, "2026-12-01 10:00"),
    ("after closing", UTC_WEEK, "2026-12-01 18:00", 1, "2026-12-02 10:00"),
    ("on a Saturday", UTC_WEEK, "2026-12-05 12:00", 1, "2026-12-07 10:00"),
    ("at closing time: the next opening", UTC_WEEK, "2026-12-01 17:00", 1, "2026-12-02 10:00"),
    ("a whole day ends at closing", UTC_WEEK, "2026-12-01 09:00", 8, "2026-12-01 17:00"),
    ("fractional hours", UTC_WEEK, "2026-12-01 09:00", 1.5, "2026-12-01 10:30"),
    ("a quarter of an hour", UTC_WEEK, "2026-12-01 16:50", 0.25, "2026-12-02 09:05"),
    ("zero hours outside: the next opening", UTC_WEEK, "2026-12-05 12:00", 0, "2026-12-07 09:00"),
    ("zero hours at closing: the next opening", UTC_WEEK, "2026-12-01 17:00", 0,
     "2026-12-02 09:00"),
    ("a local evening that is tomorrow in UTC", NEW_YORK_LATE, "2026-12-01 20:00", 2,
     "2026-12-01 22:00"),
    ("zero hours inside: now", UTC_WEEK, "2026-12-01 11:11", 0, "2026-12-01 11:11"),
    ("Berlin, spring forward weekend", BERLIN_WEEK, "2026-03-27 16:00", 2, "2026-03-30 10:00"),
    ("Berlin, fall back weekend", BERLIN_WEEK, "2026-10-23 16:00", 2, "2026-10-26 10:00"),
    ("Berlin, working on the Sunday of the change", EVERY_DAY_BERLIN, "2026-03-28 16:00", 2,
     "2026-03-29 10:00"),
    ("Berlin, autumn Sunday worked", EVERY_DAY_BERLIN, "2026-10-24 16:00", 2, "2026-10-25 10:00"),
    ("New York, spring forward weekend", NEW_YORK_WEEK, "2026-03-06 16:00", 2, "2026-03-09 10:00"),
    ("New York, fall back weekend", NEW_YORK_WEEK, "2026-10-30 16:00", 2, "2026-11-02 10:00"),
    ("New York, 8 hours in a day", NEW_YORK_WEEK, "2026-03-09 08:00", 8, "2026-03-09 17:00"),
    # 00:00-06:00 local on 29 March lasts 5 real hours: the 6th falls on the next night.
    ("a span across the DST gap is shorter", NIGHTS_BERLIN, "2026-03-29 00:00", 6,
     "2026-03-30 01:00"),
    ("a span across the repeated hour is longer", NIGHTS_BERLIN, "2026-10-25 00:00", 7,
     "2026-10-25 06:00"),
]


@pytest.mark.parametrize(("why", "cal", "start", "hours", "due"), HOURS,
                         ids=[row[0] for row in HOURS])
def test_business_hours_fall_due(why: str, cal: Calendar, start: str, hours: float,
                                 due: str) -> None:
    result = add_business_hours(local(cal, start), hours, cal)
    assert result.tzinfo is UTC
    assert result == local(cal, due).astimezone(UTC), why


DAYS = [
    ("5 days from mid-morning: same time next week", UTC_WEEK, "2026-11-30 10:00", 5,
     "2026-12-07 10:00"),
    ("5 days from Friday evening: close of next Friday", UTC_WEEK, "2026-12-04 18:00", 5,
     "2026-12-11 17:00"),
    ("5 days over Christmas", CHRISTMAS, "2026-12-21 09:00", 5, "2026-12-28 17:00"),
    ("5 days in Berlin over the spring change", BERLIN_WEEK, "2026-03-26 10:00", 5,
     "2026-04-02 10:00"),
    ("half a day", UTC_WEEK, "2026-12-01 09:00", 0.5, "2026-12-01 13:00"),
]


@pytest.mark.parametrize(("why", "cal", "start", "days", "due"), DAYS,
                         ids=[row[0] for row in DAYS])
def test_business_days_fall_due(why: str, cal: Calendar, start: str, days: float,
                                due: str) -> None:
    assert add_business_days(local(cal, start), days, cal) == local(cal, due).astimezone(UTC)


def test_clock_hours_run_around_the_clock() -> None:
    saturday_night = datetime(2026, 3, 29, 0, 30, tzinfo=BERLIN)  # an hour before the change
    assert add_clock_hours(saturday_night, 1) == datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    # Two real hours later it is 03:30 in Berlin: 02:30 never happened that night.
    after_two = add_clock_hours(saturday_night, 2)
    assert after_two.tzinfo is UTC
    assert after_two.astimezone(BERLIN).replace(tzinfo=None) == datetime(2026, 3, 29, 3, 30)
    assert add_clock_hours(datetime(2026, 12, 5, 12, tzinfo=UTC), 1).hour == 13  # a Saturday


BETWEEN = [
    ("Friday afternoon to Monday morning", UTC_WEEK, "2026-03-06 16:00", "2026-03-09 10:00", 2),
    ("within one day", UTC_WEEK, "2026-12-01 09:30", "2026-12-01 12:00", 2.5),
    ("a weekend alone", UTC_WEEK, "2026-12-05 00:00", "2026-12-07 00:00", 0),
    ("a holiday does not count", CHRISTMAS, "2026-12-24 00:00", "2026-12-26 00:00", 8),
    ("a week across the Berlin change", BERLIN_WEEK, "2026-03-23 09:00", "2026-03-30 09:00", 40),
    ("backwards is negative", UTC_WEEK, "2026-03-09 10:00", "2026-03-06 16:00", -2),
]


@pytest.mark.parametrize(("why", "cal", "a", "b", "hours"), BETWEEN,
                         ids=[row[0] for row in BETWEEN])
def test_business_hours_between(why: str, cal: Calendar, a: str, b: str, hours: float) -> None:
    assert business_hours_between(local(cal, a), local(cal, b), cal) == pytest.approx(hours)


def test_a_ten_year_target_is_computed_by_days_not_hours() -> None:
    start = datetime(2026, 12, 1, 9, tzinfo=UTC)
    began = clock.perf_counter()
    due = add_business_hours(start, 8 * 5 * 52 * 10, UTC_WEEK)
    assert clock.perf_counter() - began < HANG_GUARD_SECONDS
    assert datetime(2036, 11, 1, tzinfo=UTC) < due < datetime(2036, 12, 31, tzinfo=UTC)
    assert business_hours_between(start, due, UTC_WEEK) == pytest.approx(8 * 5 * 52 * 10)


def test_a_calendar_without_working_time_ahead_is_an_error_not_a_loop() -> None:
    first = date(2026, 11, 30)  # a Monday; every Monday for the whole walk is a holiday
    mondays = frozenset(first + timedelta(weeks=n) for n in range(MAX_SPAN_DAYS // 7 + 2))
    only_mondays = Calendar(working_days=frozenset({0}), holidays=mondays)
    with pytest.raises(ValueError, match="more than"):
        add_business_hours(datetime(2026, 11, 30, tzinfo=UTC), 1, only_mondays)


@pytest.mark.parametrize(("fields", "message"), [
    ({"working_days": frozenset()}, "at least one working day"),
    ({"working_days": frozenset({7})}, "0 \\(Monday\\) to 6"),
    ({"opens": time(17), "closes": time(9)}, "must open"),
    ({"opens": time(9), "closes": time(9)}, "must open"),
])
def test_a_calendar_that_cannot_work_is_refused_when_built(fields: dict[str, object],
                                                          message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Calendar(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(("start", "hours", "message"), [
    (datetime(2026, 12, 1, 9), 1, "naive"),
    (datetime(2026, 12, 1, 9, tzinfo=UTC), -1, "from 0 to"),
    (datetime(2026, 12, 1, 9, tzinfo=UTC), float("nan"), "from 0 to"),
    (datetime(2026, 12, 1, 9, tzinfo=UTC), float("inf"), "from 0 to"),
    (datetime(2026, 12, 1, 9, tzinfo=UTC), 1e12, "from 0 to"),
])
def test_bad_arguments_get_a_clear_error(start: datetime, hours: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        add_business_hours(start, hours, UTC_WEEK)
    with pytest.raises(ValueError, match=message):
        add_clock_hours(start, hours)


# Properties over random working weeks, including openings inside a DST gap or repeat.
calendars = st.builds(
    lambda zone, days, opens, length, holidays: Calendar(
        zone=zone, working_days=days, opens=time(opens),
        closes=time(min(opens + length, 23), 30), holidays=holidays),
    st.sampled_from([UTC, BERLIN, NEW_YORK]),
    st.frozensets(st.integers(0, 6), min_size=1),
    st.integers(0, 22),
    st.integers(0, 12),
    st.frozensets(st.dates(date(2025, 1, 1), date(2032, 12, 31)), max_size=20),
)
starts = st.datetimes(datetime(2025, 1, 1), datetime(2030, 12, 31), timezones=st.just(UTC))
hours = st.floats(0, 2000, allow_nan=False)


@settings(max_examples=100, deadline=None)
@given(calendars, starts, hours)
def test_due_is_never_before_start(cal: Calendar, start: datetime, amount: float) -> None:
    assert add_business_hours(start, amount, cal) >= start


@settings(max_examples=100, deadline=None)
@given(calendars, starts, hours, hours)
def test_more_hours_never_fall_due_earlier(cal: Calendar, start: datetime, one: float,
                                          other: float) -> None:
    low, high = sorted((one, other))
    assert add_business_hours(start, low, cal) <= add_business_hours(start, high, cal)


@settings(max_examples=100, deadline=None)
@given(calendars, starts, hours)
def test_counting_back_gives_the_hours_added(cal: Calendar, start: datetime,
                                             amount: float) -> None:
    due = add_business_hours(start, amount, cal)
    assert abs(business_hours_between(start, due, cal) - amount) <= 1 / 3600


@pytest.mark.parametrize("days", [-1, float("nan"), float("inf"), MAX_SPAN_DAYS + 1])
def test_bad_day_counts_get_a_clear_error(days: float) -> None:
    with pytest.raises(ValueError, match="days must be a number from 0"):
        add_business_days(datetime(2026, 12, 1, 9, tzinfo=UTC), days, UTC_WEEK)
