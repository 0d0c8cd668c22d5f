"""The lifecycle: every edge of the transition table, and the timers, with a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from maildaemon.domain import Status
from maildaemon.policy.lifecycle import (
    ALLOWED,
    IllegalTransition,
    TicketClock,
    Timers,
    check_transition,
    due_action,
    next_due,
)

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
TIMERS = Timers()


@pytest.mark.parametrize("current", list(Status))
@pytest.mark.parametrize("new", list(Status))
def test_every_edge_of_the_table(current: Status, new: Status) -> None:
    if new in ALLOWED[current]:
        check_transition(current, new)
    else:
        with pytest.raises(IllegalTransition) as info:
            check_transition(current, new)
        assert str(current) in str(info.value)


def test_nothing_goes_back_to_new() -> None:
    assert all(Status.NEW not in targets for targets in ALLOWED.values())


def clock(status: Status = Status.WAITING, reminded: bool = False,
          marked: bool = False) -> TicketClock:
    return TicketClock(status, T0, reminded, marked)


@pytest.mark.parametrize("days,state,expected", [
    (2.9, clock(), None),
    (3, clock(), "remind"),
    (4, clock(reminded=True), None),
    (7, clock(reminded=True), "mark_waiting"),
    (7, clock(), "mark_waiting"),  # a late sweep skips the reminder
    (8, clock(reminded=True, marked=True), None),
    (14, clock(), "close"),
    (14, clock(reminded=True, marked=True), "close"),
    (6.9, clock(Status.RESOLVED), None),
    (7, clock(Status.RESOLVED), "close"),
    (30, clock(Status.OPEN), None),
    (30, clock(Status.ON_HOLD), None),
])
def test_due_actions(days: float, state: TicketClock, expected: str | None) -> None:
    assert due_action(state, TIMERS, T0 + timedelta(days=days)) == expected


def test_next_due_follows_the_stages() -> None:
    assert next_due(clock(), TIMERS) == T0 + timedelta(days=3)
    assert next_due(clock(reminded=True), TIMERS) == T0 + timedelta(days=7)
    assert next_due(clock(reminded=True, marked=True), TIMERS) == T0 + timedelta(days=14)
    assert next_due(clock(Status.RESOLVED), TIMERS) == T0 + timedelta(days=7)
    assert next_due(clock(Status.OPEN), TIMERS) is None
