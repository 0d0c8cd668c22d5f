"""Premium and enterprise support: the account manager, and updates without asking.

A new ticket from a customer with an account manager (the customer directory) copies the
manager on the acknowledgement and is assigned to them, unless something else assigns it
first (a ticket that follows a closed one keeps that one's agent). There is no per-queue
assignee rule.

Proactive updates go to premium and enterprise customers, by tier alone, with or without
an account manager: while their ticket is open (new, open or on hold: not waiting on the
customer, not resolved or closed) and neither an agent nor an earlier update has written
for `[premium] update_interval` business days (the `[business_hours]` calendar), the
customer gets a short status update, at most one per interval; any agent answer, and the
ticket (re)entering its status, starts the interval again. The sweep acts on it through an
indexed due time (`tickets.next_update_at`, updates_sweep.py): any change that may matter
sets it to "now", and the sweep works out the real due time here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from maildaemon.domain import Customer, InboundMail, Status, Tier
from maildaemon.policy.businesstime import Calendar, add_business_days
from maildaemon.policy.mailbox import is_mailbox

PREMIUM_TIERS = frozenset({Tier.PREMIUM, Tier.ENTERPRISE})
UPDATED = frozenset({Status.NEW, Status.OPEN, Status.ON_HOLD})  # the customer waits on us


def receives_updates(customer: Customer | None) -> bool:
    return customer is not None and customer.tier in PREMIUM_TIERS


def account_manager_for(customer: Customer | None, mail: InboundMail) -> str | None:
    """The sender's account manager, for their new ticket; never themselves, never a
    string we could not mail."""
    manager = customer.account_manager if customer is not None else None
    if not manager or manager.lower() == mail.from_addr.lower() or not is_mailbox(manager):
        return None
    return manager


@dataclass(frozen=True)
class UpdateClock:
    """What decides a ticket's next update: its status and the last time anyone of ours
    wrote (`last_agent`: an agent's answer; `last_update`: our previous update)."""

    status: Status
    waiting_on_customer: bool
    created: datetime
    status_since: datetime | None
    last_agent: datetime | None
    last_update: datetime | None


def next_update(clock: UpdateClock, interval_days: float, cal: Calendar,
                now: datetime) -> tuple[bool, datetime | None]:
    """(send an update now?, when to look again: None while the customer does not wait
    on us). An update sent now makes the next one due an interval from now."""
    if clock.status not in UPDATED or clock.waiting_on_customer:
        return False, None
    quiet_since = max(t for t in (clock.created, clock.status_since, clock.last_agent,
                                  clock.last_update) if t is not None)
    due = add_business_days(quiet_since, interval_days, cal)
    if due > now:
        return False, due
    return True, add_business_days(now, interval_days, cal)
