"""The ticket lifecycle: which status changes are allowed, and what falls due when.

    from \\ to   new  open  waiting  on_hold  resolved  closed
    new           -    yes    yes      yes      yes       yes
    open          -     -     yes      yes      yes       yes
    waiting       -    yes     -       yes      yes       yes
    on_hold       -    yes    yes       -       yes       yes
    resolved      -    yes     -        -        -        yes
    closed        -    yes     -        -        -         -      (reopening)

Timers run from the moment a ticket entered its status (`since`). A ticket waiting for the
customer gets one reminder after `remind_days`, is marked waiting-on-customer after
`mark_days` and closed after `close_days`; a resolved one closes after `resolved_days`.
When a sweep comes late, only the furthest stage due is acted on (no reminder on the day
of closing). A customer's reply moves the ticket to open, which stops every timer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from maildaemon.domain import Status

ALLOWED: dict[Status, frozenset[Status]] = {
    Status.NEW: frozenset({Status.OPEN, Status.WAITING, Status.ON_HOLD, Status.RESOLVED,
                           Status.CLOSED}),
    Status.OPEN: frozenset({Status.WAITING, Status.ON_HOLD, Status.RESOLVED, Status.CLOSED}),
    Status.WAITING: frozenset({Status.OPEN, Status.ON_HOLD, Status.RESOLVED, Status.CLOSED}),
    Status.ON_HOLD: frozenset({Status.OPEN, Status.WAITING, Status.RESOLVED, Status.CLOSED}),
    Status.RESOLVED: frozenset({Status.OPEN, Status.CLOSED}),
    Status.CLOSED: frozenset({Status.OPEN}),
}


class IllegalTransition(ValueError):
    """A status change the lifecycle does not allow; the message says which and why."""


@dataclass(frozen=True)
class Timers:
    remind_days: float = 3.0
    mark_days: float = 7.0
    close_days: float = 14.0
    resolved_days: float = 7.0


@dataclass(frozen=True)
class TicketClock:
    """The part of a ticket the timers look at."""

    status: Status
    since: datetime
    reminded: bool
    waiting_on_customer: bool


def check_transition(current: Status, new: Status) -> None:
    if new == current:
        raise IllegalTransition(f"the ticket is already {current}")
    if new not in ALLOWED[current]:
        allowed = ", ".join(sorted(ALLOWED[current])) or "nothing"
        raise IllegalTransition(f"a {current} ticket cannot become {new} "
                                f"(allowed: {allowed})")


def next_due(clock: TicketClock, timers: Timers) -> datetime | None:
    """When the next timer of this ticket falls due; None when none runs."""
    if clock.status == Status.RESOLVED:
        return clock.since + timedelta(days=timers.resolved_days)
    if clock.status != Status.WAITING:
        return None
    if not clock.reminded and not clock.waiting_on_customer:
        return clock.since + timedelta(days=timers.remind_days)
    if not clock.waiting_on_customer:
        return clock.since + timedelta(days=timers.mark_days)
    return clock.since + timedelta(days=timers.close_days)


def due_action(clock: TicketClock, timers: Timers, now: datetime) -> str | None:
    """What a sweep does now: "remind", "mark_waiting", "close", or nothing.

    Only the furthest stage that is due, so a late sweep never sends a reminder for a
    ticket it is about to close; each stage leaves the ticket in a state where it cannot
    fire again, so a second sweep does nothing."""
    age = now - clock.since
    if clock.status == Status.RESOLVED:
        return "close" if age >= timedelta(days=timers.resolved_days) else None
    if clock.status != Status.WAITING:
        return None
    if age >= timedelta(days=timers.close_days):
        return "close"
    if age >= timedelta(days=timers.mark_days):
        return None if clock.waiting_on_customer else "mark_waiting"
    if age >= timedelta(days=timers.remind_days):
        return None if clock.reminded or clock.waiting_on_customer else "remind"
    return None
