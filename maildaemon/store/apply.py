"""Writing a decision: every row one inbound message leaves, in the caller's transaction.

The replies arrive rendered (`Rendered`): templates are filled in before, never while this
writes, so the only work here is the rows. See `Store.apply`.
"""

from __future__ import annotations

from maildaemon.domain import Decision, EscalationFate, InboundMail, Outcome, OutgoingMail
from maildaemon.store import (
    attachments,
    bounces,
    bugreports,
    escalations,
    limits,
    messages,
    tickets,
    updates,
)
from maildaemon.store.blobs import Blobs
from maildaemon.store.db import Db
from maildaemon.store.dedup import key_hash, mark_processed
from maildaemon.store.events import EventRow, write_events
from maildaemon.store.outbox import enqueue
from maildaemon.store.records import Rendered
from maildaemon.store.stamps import iso


def trace_events(ticket_id: int, stamp: str, trace: tuple[str, ...]) -> list[EventRow]:
    """The decision's trace as ticket events: "step: detail" lines."""
    return [(ticket_id, stamp, *line.partition(": ")[::2]) for line in trace]


def reply_event(ticket_id: int, stamp: str, out: OutgoingMail) -> EventRow:
    copied = f" cc {', '.join(out.cc)}" if out.cc else ""
    return (ticket_id, stamp, "reply_queued",
            f"{out.kind} to {out.rcpt_to}{copied} {out.message_id}")


def apply_refused(conn: Db, ids: tickets.TicketIds, decision: Decision,
                  mail: InboundMail, spool_id: str, stamp: str, rendered: Rendered,
                  raw_id: int, dedup_hash: int) -> str | None:
    """Mail to a reply address that is not the sender's: kept (never lost) with the
    automatic mail, off every ticket's timeline, so its text is nobody's message; the
    ticket, if there is one, gets the event and the short refusal to the sender."""
    messages.insert_automatic(conn, mail, stamp, "agent_refused", spool_id, raw_id,
                              dedup_hash)
    if decision.ticket is None or rendered.number is None:
        return None
    ticket_id = ids.id_of(conn, rendered.number)
    events = trace_events(ticket_id, stamp, decision.trace)
    events += [(ticket_id, stamp, e.type, e.detail) for e in decision.events]
    for out in rendered.mail:
        if enqueue(conn, ticket_id, out, stamp):
            events.append(reply_event(ticket_id, stamp, out))
    write_events(conn, events)
    return rendered.number


def apply_decision(conn: Db, blobs: Blobs, ids: tickets.TicketIds,
                   decision: Decision, mail: InboundMail, raw: bytes, spool_id: str,
                   stamp: str, rendered: Rendered, key_always: bool = False,
                   dedup_since: str | None = None) -> str | None:
    """Write everything the decision says; returns the ticket number.

    `key_always` (PostgreSQL): the `processed` row carries the dedup hash of mail with a
    Message-ID too, so that the unique index on it stops a second node writing the same
    message at the same moment (issue 15, 3); SQLite's single writer needs no such key.
    `dedup_since`: see `mark_processed`."""
    number: str | None = None
    if decision.outcome == Outcome.DUPLICATE:
        mark_processed(conn, None, spool_id, decision.outcome, None, stamp)
        return None
    dedup_hash = key_hash(mail.dedup_key)
    raw_id = blobs.keep_raw(conn, mail.raw_sha256, raw)
    if decision.deliverable_again:  # before any mail to the address is queued
        bounces.clear(conn, decision.deliverable_again)
    if decision.outcome == Outcome.AUTOMATIC:
        messages.insert_automatic(conn, mail, stamp, decision.automated_reason or "",
                                  spool_id, raw_id, dedup_hash)
    elif decision.outcome == Outcome.AGENT_REFUSED:
        number = apply_refused(conn, ids, decision, mail, spool_id, stamp, rendered,
                               raw_id, dedup_hash)
    elif decision.outcome == Outcome.ESCALATION_REFUSED:  # nothing of a ticket changes
        escalations.keep_refused(conn, mail, stamp, spool_id, raw_id, dedup_hash, rendered)
    else:
        number = rendered.number
        assert number is not None, "a ticket's mail is rendered for its number"
        if decision.ticket is not None:
            ticket_id = ids.id_of(conn, number)
        else:
            assert decision.new_ticket is not None
            ticket_id = tickets.insert_ticket(conn, number, decision.new_ticket, stamp)
            if decision.new_ticket.proactive:  # premium: status updates while we are quiet
                updates.start(conn, ticket_id, stamp)
            if decision.new_ticket.unverified:  # its From is not proven: agents are warned
                tickets.mark_unverified(conn, ticket_id)
        message_row = messages.insert_inbound(conn, ticket_id, mail, stamp,
                                              decision.automated_reason, raw_id, dedup_hash)
        attachments.insert_files(conn, blobs, ticket_id, message_row, decision.attachments)
        if decision.agent_text:  # an agent's words reach the customer
            tickets.record_first_response(conn, ticket_id, stamp)
        if decision.new_status is not None:
            tickets.set_status(conn, ticket_id, decision.new_status, stamp,
                               iso(decision.due_at) if decision.due_at else None,
                               iso(decision.resolution_due) if decision.resolution_due
                               else None)
        if decision.new_priority is not None:  # an agent's #priority
            tickets.set_priority(conn, ticket_id, decision.new_priority)
        if decision.assignee is not None:  # an agent's #assign
            tickets.set_assignee(conn, ticket_id, decision.assignee)
        esc = decision.escalation
        if esc is not None and esc.fate == EscalationFate.ESCALATED:
            escalations.escalate(conn, ticket_id, esc)
        if decision.ticket is not None:  # a new ticket was created with this stamp
            tickets.touch(conn, ticket_id, stamp)
        events = trace_events(ticket_id, stamp, decision.trace)
        events += [(ticket_id, stamp, e.type, e.detail) for e in decision.events]
        if decision.rating is not None:
            tickets.set_rating(conn, ticket_id, decision.rating)
        if decision.bug_report is not None:  # a bug report's fields (policy/bugreport.py)
            report = decision.bug_report
            filled = bugreports.write_report(conn, ticket_id, report, stamp,
                                             new=decision.ticket is None)
            if filled:
                events.append((ticket_id, stamp, "bug_report_updated",
                               bugreports.filled_detail(report, filled)))
        for undeliverable in decision.undeliverable:  # a bounce's 5.x.x (policy/bounces.py)
            bounces.mark(conn, undeliverable.address, undeliverable, ticket_id, stamp)
        for out in rendered.mail:
            if enqueue(conn, ticket_id, out, stamp):
                events.append((ticket_id, stamp, "reply_queued",
                               f"{out.kind} to {out.rcpt_to} {out.message_id}"))
        limits.remember(conn, ticket_id, decision, rendered.mail, stamp)  # m025
        write_events(conn, events)
    # With a Message-ID, the row just written under it is the dedup record.
    keyed = dedup_hash if key_always or not mail.message_id else None
    mark_processed(conn, keyed, spool_id, decision.outcome, number, stamp, dedup_since)
    return number
