"""SLA due times by priority and tier, the paused resolution clock, lateness in words.

Each row is written in the calendar's local time, as a support lead would check it by
hand against the support page; the expected moment is compared in UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from maildaemon.domain import PolicySettings, Priority, Tier
from maildaemon.policy.businesstime import Calendar
from maildaemon.policy.sla import (
    Kind,
    NextTarget,
    SlaSettings,
    SlaTable,
    Target,
    TierTargets,
    Unit,
    due_times,
    late_by,
    next_target,
    parse_target,
    resumed_due,
    sla_of,
)

BERLIN = ZoneInfo("Europe/Berlin")
UTC_WEEK = SlaSettings()
BERLIN_WEEK = SlaSettings(calendar=Calendar(zone=BERLIN))
HOLIDAYS = SlaSettings(calendar=Calendar(holidays=frozenset({date(2026, 12, 25),
                                                             date(2026, 12, 28)})))
C, H, M, L = Priority.CRITICAL, Priority.HIGH, Priority.MEDIUM, Priority.LOW
FREE, PLUS, PREMIUM, ENTERPRISE = Tier.FREE, Tier.PLUS, Tier.PREMIUM, Tier.ENTERPRISE


def local(sla: SlaSettings, text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=sla.calendar.zone)


# (why, settings, priority, tier, opened (local), first response due, resolution due)
DUE = [
    ("critical: 1 h and 4 h around the clock, on a Sunday night", UTC_WEEK, C, ENTERPRISE,
     "2026-12-06 23:30", "2026-12-07 00:30", "2026-12-07 03:30"),
    ("high, free: 4 h; resolution 24 h", UTC_WEEK, H, FREE,
     "2026-12-01 10:00", "2026-12-01 14:00", "2026-12-02 10:00"),
    ("high, plus: 4 h as free", UTC_WEEK, H, PLUS,
     "2026-12-01 10:00", "2026-12-01 14:00", "2026-12-02 10:00"),
    ("high, premium: 2 h", UTC_WEEK, H, PREMIUM,
     "2026-12-01 10:00", "2026-12-01 12:00", "2026-12-02 10:00"),
    ("high, enterprise: 2 h", UTC_WEEK, H, ENTERPRISE,
     "2026-12-01 10:00", "2026-12-01 12:00", "2026-12-02 10:00"),
    ("medium: 24 h; 5 business days across a weekend", UTC_WEEK, M, FREE,
     "2026-12-02 10:00", "2026-12-03 10:00", "2026-12-09 10:00"),
    ("medium on a Friday evening: due at the close of the next Friday", UTC_WEEK, M, FREE,
     "2026-12-04 19:00", "2026-12-05 19:00", "2026-12-11 17:00"),
    ("medium across two holidays and a weekend", HOLIDAYS, M, FREE,
     "2026-12-23 10:00", "2026-12-24 10:00", "2027-01-01 10:00"),
    ("low: 48 h; 14 days around the clock", UTC_WEEK, L, FREE,
     "2026-12-01 10:00", "2026-12-03 10:00", "2026-12-15 10:00"),
    ("medium across the spring DST change in Berlin: business days keep 10:00 local",
     BERLIN_WEEK, M, FREE, "2026-03-26 10:00", "2026-03-27 10:00", "2026-04-02 10:00"),
    ("critical across the autumn DST change: 4 elapsed hours, 1 local hour repeats",
     BERLIN_WEEK, C, FREE, "2026-10-25 00:30", "2026-10-25 01:30", "2026-10-25 03:30"),
]


@pytest.mark.parametrize(("why", "sla", "priority", "tier", "opened", "first", "resolved"),
                         DUE, ids=[row[0] for row in DUE])
def test_due_times(why: str, sla: SlaSettings, priority: Priority, tier: Tier, opened: str,
                   first: str, resolved: str) -> None:
    due = due_times(priority, tier, local(sla, opened).astimezone(UTC), sla)
    assert due.first_response == local(sla, first).astimezone(UTC), why
    assert due.resolution == local(sla, resolved).astimezone(UTC), why


def test_autumn_dst_row_is_four_elapsed_hours() -> None:
    """The row above in UTC: 00:30 CEST is 22:30 UTC; four hours on, 02:30 UTC is 03:30 CET."""
    due = due_times(C, FREE, datetime(2026, 10, 24, 22, 30, tzinfo=UTC), BERLIN_WEEK)
    assert due.resolution == datetime(2026, 10, 25, 2, 30, tzinfo=UTC)


# (written, amount, unit, words, as configuration writes it)
TARGETS = [
    (1, 1.0, Unit.HOURS, "1 hour", "1h"),
    (4.0, 4.0, Unit.HOURS, "4 hours", "4h"),
    (0.5, 0.5, Unit.HOURS, "30 minutes", "0.5h"),
    ("2h", 2.0, Unit.HOURS, "2 hours", "2h"),
    ("1.5 hours", 1.5, Unit.HOURS, "1.5 hours", "1.5h"),
    ("14d", 14.0, Unit.DAYS, "14 days", "14d"),
    ("1 day", 1.0, Unit.DAYS, "1 day", "1d"),
    ("4bh", 4.0, Unit.BUSINESS_HOURS, "4 business hours", "4bh"),
    ("5BD", 5.0, Unit.BUSINESS_DAYS, "5 business days", "5bd"),
    (" 1 business day ", 1.0, Unit.BUSINESS_DAYS, "1 business day", "1bd"),
]


@pytest.mark.parametrize(("written", "amount", "unit", "words", "shown"), TARGETS)
def test_targets_parse_and_read(written: object, amount: float, unit: Unit, words: str,
                                shown: str) -> None:
    target = parse_target(written)
    assert (target.amount, target.unit, target.words(), str(target)) == \
        (amount, unit, words, shown)


@pytest.mark.parametrize("bad", ["", "4", "4x", "h", "-1h", "0h", "0", 0, -3, True, "4 weeks",
                                 "1e3h", "99999999h", float("nan"), float("inf"), [4], None])
def test_bad_targets_are_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_target(bad)


def test_a_tier_override_replaces_only_what_it_names() -> None:
    table = SlaTable(tiers={PLUS: TierTargets(resolution={M: Target(3, Unit.BUSINESS_DAYS)})})
    assert table.target(Kind.RESOLUTION, M, PLUS) == Target(3, Unit.BUSINESS_DAYS)
    assert table.target(Kind.RESOLUTION, M, FREE) == Target(5, Unit.BUSINESS_DAYS)
    assert table.target(Kind.FIRST_RESPONSE, M, PLUS) == Target(24)
    # Premium's 2 h came from the defaults, which this table replaced.
    assert table.target(Kind.FIRST_RESPONSE, H, PREMIUM) == Target(4)


def test_settings_without_sla_keep_their_hours_as_first_response_targets() -> None:
    settings = PolicySettings(
        domain="healthsync.com", queues={}, order=(), default_queue="support",
        staff_addresses=frozenset(), staff_domains=frozenset(), autoreply_max_per_hour=5,
        sla_hours={C: 0.5, H: 3, M: 12, L: 100}, reopen_days=7)
    assert sla_of(settings).target(Kind.FIRST_RESPONSE, H, FREE) == Target(3)
    assert sla_of(settings).target(Kind.RESOLUTION, L, FREE) == Target(14, Unit.DAYS)


T = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)  # a Wednesday
FIVE_BD = Target(5, Unit.BUSINESS_DAYS)
DAY = timedelta(days=1)
# (why, due, paused since, resumed, target, new due)
PAUSES = [
    ("clock target: later by the time waited", T + DAY, T, T + timedelta(hours=5),
     Target(24), T + DAY + timedelta(hours=5)),
    ("business target, waited Wed 10:00 to Thu 12:00: 10 business hours",
     T + 5 * DAY, T, T + DAY + timedelta(hours=2), FIVE_BD,
     datetime(2026, 12, 8, 12, 0, tzinfo=UTC)),
    ("business target, waited over the weekend only: nothing given back",
     datetime(2026, 12, 9, 10, 0, tzinfo=UTC), datetime(2026, 12, 4, 17, 0, tzinfo=UTC),
     datetime(2026, 12, 7, 9, 0, tzinfo=UTC), FIVE_BD, datetime(2026, 12, 9, 10, 0, tzinfo=UTC)),
    ("business target due at closing, waited 2 business hours: into the next morning",
     datetime(2026, 12, 4, 17, 0, tzinfo=UTC), T, T + timedelta(hours=2), FIVE_BD,
     datetime(2026, 12, 7, 11, 0, tzinfo=UTC)),
    ("waiting began after the target was missed: nothing given back",
     T, T + timedelta(hours=1), T + DAY, Target(4), T),
    ("no time passed", T + DAY, T, T, Target(24), T + DAY),
]


@pytest.mark.parametrize(("why", "due", "since", "now", "target", "expected"), PAUSES,
                         ids=[row[0] for row in PAUSES])
def test_waiting_moves_the_resolution_due_time(why: str, due: datetime, since: datetime,
                                               now: datetime, target: Target,
                                               expected: datetime) -> None:
    assert resumed_due(due, since, now, target, UTC_WEEK.calendar) == expected, why


@pytest.mark.parametrize(("late", "words"), [
    (timedelta(seconds=20), "less than a minute"), (timedelta(minutes=1), "1 minute"),
    (timedelta(minutes=45), "45 minutes"), (timedelta(hours=2, minutes=5), "2 hours 5 minutes"),
    (timedelta(days=3, hours=2, minutes=9), "3 days 2 hours"), (timedelta(days=1), "1 day"),
])
def test_late_by(late: timedelta, words: str) -> None:
    assert late_by(T, T + late) == words


def test_next_target_is_the_first_response_then_the_resolution() -> None:
    first, resolution = T + timedelta(hours=4), T + DAY
    assert next_target(first, None, resolution, None, False) == \
        NextTarget(Kind.FIRST_RESPONSE, first)
    assert next_target(first, T, resolution, None, False) == NextTarget(Kind.RESOLUTION,
                                                                       resolution)
    assert next_target(first, T, resolution, None, True) is None  # paused
    assert next_target(first, T, resolution, T, False) is None
