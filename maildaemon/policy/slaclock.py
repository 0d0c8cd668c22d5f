"""The paused resolution clock: what a status change does to a ticket's resolution due time.

A ticket waiting on the customer ("waiting") does not count against its resolution
target: when it leaves waiting, by whatever path (the customer's reply, an agent's command
or answer, `maildaemon status`, the sweep closing it), its `resolution_due` moves later by
the time it waited, counted in the target's unit (policy/sla.py: `resumed_due`). The
pause starts when the ticket entered waiting (`status_since`), so nothing extra is stored.

Stopping the clocks (the first agent answer, the first resolution or closing) needs no
arithmetic and happens where the status is written (store/tickets.py), so no path can
forget it; this module is for the one change that needs the targets and the calendar.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from maildaemon.domain import Decision, PolicySettings, Priority, Status, Tier
from maildaemon.policy.sla import SlaSettings, resolution_target, resumed_due, sla_of


def resolution_due_after(status: Status, new: Status, since: datetime | None,
                         due: datetime | None, priority: Priority, tier: Tier,
                         now: datetime, sla: SlaSettings) -> datetime | None:
    """The ticket's new resolution due time when a change from `status` to `new` ends a
    wait on the customer that began at `since`; None when the due time stays as it is
    (no wait ended, or no resolution target: a ticket from before issue 12)."""
    if status != Status.WAITING or new == Status.WAITING or since is None or due is None:
        return None
    moved = resumed_due(due, since, now, resolution_target(priority, tier, sla),
                        sla.calendar)
    return moved if moved != due else None


def with_resumed_clock(decision: Decision, settings: PolicySettings,
                       now: datetime) -> Decision:
    """The decision, with `resolution_due` set when its status change ends a wait."""
    ticket, new = decision.ticket, decision.new_status
    if ticket is None or new is None or ticket.status != Status.WAITING:
        return decision  # the common case, and cheap: no copy
    # The priority the due time was counted for, not one this decision sets.
    moved = resolution_due_after(ticket.status, new, ticket.status_since,
                                 ticket.resolution_due, ticket.priority or Priority.MEDIUM,
                                 ticket.tier, now,
                                 sla_of(settings))
    return decision if moved is None else replace(decision, resolution_due=moved)
