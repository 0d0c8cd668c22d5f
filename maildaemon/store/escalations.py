"""Escalations (issue 12, point 5): what escalating writes on the ticket's row, and the
refused request, which is kept on no ticket.

The ticket's other rows (its message, events, status, the mail) are written as for any
decision, by apply.py or by the command; this module owns the escalation's own columns.
"""

from __future__ import annotations

import json

from maildaemon.domain import Escalation, InboundMail, OutgoingMail
from maildaemon.policy.mailbox import mailbox_problem
from maildaemon.store.db import Db
from maildaemon.store.messages import insert_automatic
from maildaemon.store.records import Rendered
from maildaemon.store.stamps import iso


def escalate(conn: Db, ticket_id: int, esc: Escalation) -> None:
    """Marked escalated, its new priority, queue and due times; assigned to the
    escalation manager when there is one. A clock that still runs gets its breach mark
    cleared, so that missing the new due time is reported too (sla_sweep.py)."""
    conn.execute(
        "UPDATE tickets SET escalated = 1, priority = coalesce(?, priority),"
        " queue = coalesce(?, queue), first_response_due = coalesce(?, first_response_due),"
        " resolution_due = coalesce(?, resolution_due), assignee = coalesce(?, assignee),"
        " response_breached = CASE WHEN first_response_at IS NULL THEN 0"
        " ELSE response_breached END,"
        " resolution_breached = CASE WHEN resolved_at IS NULL THEN 0"
        " ELSE resolution_breached END WHERE id = ?",
        (esc.priority, esc.queue,
         iso(esc.first_response_due) if esc.first_response_due else None,
         iso(esc.resolution_due) if esc.resolution_due else None, esc.assignee,
         ticket_id))


def keep_refused(conn: Db, mail: InboundMail, stamp: str, spool_id: str,
                 raw_id: int, dedup_hash: int, rendered: Rendered) -> None:
    """A refused request is kept with the automatic mail (never lost, on no ticket: the
    ticket it named, if any, is not the sender's), and its answer queued on no ticket."""
    insert_automatic(conn, mail, stamp, "escalation_refused", spool_id, raw_id, dedup_hash)
    for out in rendered.mail:
        enqueue_answer(conn, out, stamp)


def enqueue_answer(conn: Db, out: OutgoingMail, stamp: str) -> None:
    """An answer on no ticket that counts against its recipient's rate limit (unlike a
    digest or an alert to ops, which go to our own people)."""
    problem = mailbox_problem(out.rcpt_to)
    cursor = conn.execute(
        "INSERT INTO outbox (ticket_id, kind, message_id, mail_from, rcpt_to, cc_tos,"
        " status, last_error, next_attempt_at, created_at) VALUES (NULL,?,?,?,?,?,?,?,?,?)",
        (out.kind, out.message_id, out.mail_from, out.rcpt_to, json.dumps([]),
         "failed" if problem else "pending", problem or "", stamp, stamp))
    conn.execute("INSERT INTO outbox_raw (outbox_id, raw) VALUES (?, ?)",
                 (cursor.lastrowid, out.raw))
    if not problem:
        conn.execute("INSERT INTO recent_replies VALUES (?, ?)", (out.rcpt_to, stamp))


class EscalationsOnSqlite:
    """`EscalationCommands.escalate`, mixed into `Store` (which has `conn`); in the
    caller's transaction."""

    conn: Db

    def escalate(self, ticket_id: int, escalation: Escalation) -> None:
        escalate(self.conn, ticket_id, escalation)
