"""The sweep's hand-over: a ticket whose requester a bounce marked undeliverable.

When a lifecycle timer of such a ticket falls due (the day-3 reminder, the waiting-on-
customer notice, closing as silent, closing a resolved ticket), the sweep does not act
on it: the customer never got our question or our answer, so silence means nothing. The
ticket goes back to the agents instead: status open (its timers stop), a
`delivery_failed` event saying why, and a notification to the queue's team, all in the
sweep's transaction for the ticket (policy/bounces.py words it). Once open, no timer
runs, so it happens once; an agent decides what next (a phone call, another address).
"""

from __future__ import annotations

from datetime import datetime

from maildaemon.config import Config
from maildaemon.domain import Status
from maildaemon.notifications import RECENT, TeamNotifications, moment
from maildaemon.policy.bounces import hand_over_detail
from maildaemon.policy.followup import echoed_subject
from maildaemon.render import Renderer
from maildaemon.sla_status import resumed_resolution_due
from maildaemon.store import TicketCommands, TicketRecord, iso

HANDED_OVER = "hand_over"


def hand_over(config: Config, store: TicketCommands, renderer: Renderer, row: TicketRecord,
              action: str, now: datetime) -> bool:
    """Hand the ticket to agents instead of `action` if its requester is undeliverable;
    False (nothing written) when the requester is not marked."""
    mark = store.undeliverable(row.requester)
    if mark is None:
        return False
    stamp = iso(now)
    detail = hand_over_detail(action, row.requester, mark)
    store.set_status(row.id, Status.OPEN, stamp, None,
                     resumed_resolution_due(config, row, Status.OPEN, now))
    store.add_event(row.id, stamp, "status", f"{row.status} -> open by the sweep: "
                                             "the customer's address bounces")
    store.add_event(row.id, stamp, "delivery_failed", detail)
    _notify(config, store, renderer, row, detail, now)
    return True


def _notify(config: Config, store: TicketCommands, renderer: Renderer, row: TicketRecord,
            detail: str, now: datetime) -> None:
    """The queue's team: a team notification (its own reply address for each), saying
    why the ticket is back with them."""
    people = {p.lower() for p in (*store.participants_of(row.id), row.requester)}
    notifications = TeamNotifications(config, renderer, store)
    team = [a for a in notifications.audience(row.queue, ("delivery_failed",), None)
            if a.lower() not in people]
    if not team:
        return
    brief = store.ticket_brief(row.number, RECENT)
    values: dict[str, object] = {
        "customer": row.requester, "customer_text": "", "priority": row.priority,
        "status": str(Status.OPEN), "due": moment(row.first_response_due),
        "tier": row.tier, "about": echoed_subject(row.subject), "escalation": "",
        "delivery": detail, "attached": [], "listed": [], "refused": [],
        "recent": [{"sender": m.sender, "at": moment(m.at), "text": m.text}
                   for m in (brief.recent if brief else ())]}
    for out in notifications.mail_to(team, row.number, row.queue, row.subject,
                                     ("delivery_failed",), values, [], now):
        store.enqueue(row.id, out, iso(now))
