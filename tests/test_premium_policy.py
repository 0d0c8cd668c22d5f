"""Issue 12, point 6: when a premium or enterprise ticket gets a status update without
asking (policy/premium.py), as a table, in a Monday-to-Friday 09:00-17:00 UTC week."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from maildaemon.domain import Customer, Status, Tier
from maildaemon.policy.businesstime import Calendar
from maildaemon.policy.premium import UpdateClock, next_update, receives_updates

CAL = Calendar()
MON = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)  # a Monday, 10:00


def at(day: int, hour: int = 10) -> datetime:
    """Day 0 is Monday 30 November 2026."""
    return MON + timedelta(days=day, hours=hour - 10)


def clock(status: Status = Status.OPEN, waiting: bool = False,
          last_agent: datetime | None = None, last_update: datetime | None = None,
          since: datetime | None = None) -> UpdateClock:
    return UpdateClock(status, waiting, MON, since or MON, last_agent, last_update)


@pytest.mark.parametrize("ticket,now,expected", [
    # Two business days after Monday 10:00 is Wednesday 10:00.
    (clock(), at(1), (False, at(2))),
    (clock(Status.NEW), at(2), (True, at(4))),  # due now: sent; the next one Friday 10:00
    (clock(Status.ON_HOLD), at(3), (True, at(7))),  # Thursday: next Monday 10:00
    (clock(last_update=at(2)), at(3), (False, at(4))),  # at most one per interval
    (clock(last_agent=at(2)), at(3), (False, at(4))),  # an agent answer restarts it
    (clock(since=at(1)), at(2), (False, at(3))),  # reopened Tuesday: from then
    (clock(Status.WAITING), at(9), (False, None)),  # waits on the customer: none
    (clock(waiting=True), at(9), (False, None)),
    (clock(Status.RESOLVED), at(9), (False, None)),
    (clock(Status.CLOSED), at(9), (False, None)),
])
def test_one_update_per_interval_while_the_customer_waits_on_us(
        ticket: UpdateClock, now: datetime, expected: tuple[bool, datetime | None]) -> None:
    assert next_update(ticket, 2.0, CAL, now) == expected


def test_the_weekend_does_not_count() -> None:
    friday = UpdateClock(Status.OPEN, False, at(4), at(4), None, None)
    assert next_update(friday, 2.0, CAL, at(5)) == (False, at(8))  # Tuesday 10:00


@pytest.mark.parametrize("tier,updates", [
    (Tier.FREE, False), (Tier.PLUS, False), (Tier.PREMIUM, True), (Tier.ENTERPRISE, True)])
def test_updates_go_by_tier_with_or_without_an_account_manager(tier: Tier,
                                                               updates: bool) -> None:
    assert receives_updates(Customer("a@example.org", tier)) is updates
    assert receives_updates(Customer("a@example.org", tier, account_manager="k@x.org")) \
        is updates
    assert receives_updates(None) is False
