"""The SLA pass of the sweep: each missed target found once, recorded and reported once.

A first response is missed when no agent answered (and the ticket was not resolved or
closed) by `first_response_due`; a resolution when the ticket was not resolved or closed
by `resolution_due`, which a wait on the customer moves later (while it waits, the clock
is paused and nothing is missed). The tickets come from the partial indexes of m022 (only
running, unreported clocks), never from a scan of all tickets.

Each breach is one transaction: the mark that takes the ticket out of its index (checked
again there, so an answer that came meanwhile wins), a `sla_breach` event saying which
target and how late, and ONE alert mail to the managers of the ticket's queue
(`[managers]`, else its default): To the first, Cc the others. However often the sweep
runs, whether the worker's or `maildaemon sweep`, and after a crash mid-sweep, each target
of each ticket is reported once. Without managers the event alone is written, and the log
says so once per queue.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime

from maildaemon import metrics
from maildaemon.config import Config
from maildaemon.domain import Priority, Tier
from maildaemon.notifications import moment
from maildaemon.policy.followup import echoed_subject
from maildaemon.policy.sla import Kind, late_by
from maildaemon.render import Renderer
from maildaemon.sla_config import sla_settings
from maildaemon.store import TicketCommands, TicketRecord, iso, parse_iso

log = logging.getLogger("maildaemon.sweeps")

BATCH = 500
KIND_WORDS = {Kind.FIRST_RESPONSE: "first response", Kind.RESOLUTION: "resolution"}
ALERT_KIND = "notify_sla_breach"  # internal mail: no message of the conversation
_told_without_managers: set[str] = set()  # queues whose lack of managers was logged


def sla_breaches(config: Config, store: TicketCommands, renderer: Renderer,
                 now: datetime) -> Counter[str]:
    """Report every target missed as of `now` and not reported before; what was done."""
    done: Counter[str] = Counter()
    for kind in Kind:
        for _ in range(10_000):  # bounded; each round takes its tickets out of the index
            ids = store.sla_overdue(kind, now, BATCH)
            if not ids:
                break
            for ticket_id in ids:
                if breach(config, store, renderer, ticket_id, kind, now):
                    done[f"sla_breach_{kind}"] += 1
                    metrics.sla_breach(str(kind))  # after its commit
    return done


def breach(config: Config, store: TicketCommands, renderer: Renderer, ticket_id: int,
           kind: Kind, now: datetime) -> bool:
    """One ticket's missed target, in one transaction; False when it was no longer missed
    (answered, resolved, waiting) or already reported."""
    with store.transaction():
        if not store.mark_breached(ticket_id, kind, now):
            return False
        row = store.ticket_by_id(ticket_id)
        assert row is not None, "tickets are never deleted"
        due = parse_iso(row.first_response_due if kind == Kind.FIRST_RESPONSE
                        else row.resolution_due) or now
        late = late_by(due, now)
        stamp = iso(now)
        store.add_event(ticket_id, stamp, "sla_breach",
                        f"{KIND_WORDS[kind]} target missed: due {iso(due)}, {late} late")
        alert(config, store, renderer, row, kind, due, now)
        if kind == Kind.FIRST_RESPONSE:
            on_first_response_breach(config, store, renderer, row, now)
        log.info("%s: %s target missed, %s late", row.number, KIND_WORDS[kind], late)
    return True


def on_first_response_breach(config: Config, store: TicketCommands, renderer: Renderer,
                             row: TicketRecord, now: datetime) -> None:
    """Called for each first-response breach, inside its transaction, after the event
    and the alert: with `[escalation] auto_on_first_response_breach` (off by default) the
    ticket is escalated, as an agent's `maildaemon escalate` would."""
    if not config.escalation.auto_on_first_response_breach:
        return
    # Imported here: escalations.py reaches the worker's modules, which import the sweep.
    from maildaemon.escalations import Escalator

    Escalator(config, store, renderer).on_first_response_breach(row.id, now)


def alert(config: Config, store: TicketCommands, renderer: Renderer, row: TicketRecord,
          kind: Kind, due: datetime, now: datetime) -> None:
    """One mail to the queue's managers; a manager who takes part in the ticket is left
    out (internal mail never reaches anyone as a participant)."""
    people = {p.lower() for p in store.participants_of(row.id)}
    managers = [a for a in config.managers_of(row.queue) if a.lower() not in people]
    if not managers:
        if row.queue not in _told_without_managers:
            _told_without_managers.add(row.queue)
            log.info("no [managers] for queue %s: SLA breaches are recorded as ticket events"
                     " and nobody is mailed", row.queue)
        return
    late = late_by(due, now)
    target = sla_settings(config).target(kind, Priority(row.priority), Tier(row.tier))
    out = renderer.render(
        "sla_breach", number=row.number, queue=row.queue,
        queue_address=config.queue_address(row.queue), to=managers[0],
        ticket_subject=f"SLA breach: {KIND_WORDS[kind]} {late} late", now=now,
        in_reply_to=None, auto_submitted="auto-generated", cc=managers[1:],
        kind=ALERT_KIND,
        variables={"about": echoed_subject(row.subject), "priority": row.priority,
                   "tier": row.tier, "requester": row.requester, "status": row.status,
                   "assignee": row.assignee or "nobody", "target": KIND_WORDS[kind],
                   "promised": f"within {target.words()}", "due": moment(due),
                   "late": late})
    store.enqueue(row.id, out, iso(now))
