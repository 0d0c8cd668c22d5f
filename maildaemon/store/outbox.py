"""The outbox: mail queued in the transaction that decided it, leased by a sender,
recorded as sent, retried or failed. Also the two tables that queueing feeds: the
rate limit's `recent_replies` and the `surveys` a reply is recognised by."""

from __future__ import annotations

import json
from typing import Any

from maildaemon.domain import OutgoingMail
from maildaemon.policy.bounces import withheld
from maildaemon.policy.mailbox import is_mailbox, mailbox_problem
from maildaemon.store.bounces import mark_of
from maildaemon.store.db import Db
from maildaemon.store.events import write_event
from maildaemon.store.messages import insert_outbound
from maildaemon.store.records import Attempt, Leased

TEAM_MAIL = "notify_"  # the kinds of our notifications to a ticket's team


def enqueue(conn: Db, ticket_id: int, out: OutgoingMail, stamp: str) -> bool:
    """The outbox row, its bytes and the outbound message on the ticket; False (and a
    `mail_withheld` event instead) for mail we send on our own to an address a bounce
    marked undeliverable (policy/bounces.py: reminders, notices, surveys, updates).

    A primary recipient that is not a mailbox is stored as a failed row, with the reason
    `outbox ls` shows, instead of being handed to a relay; a copied one that is not a
    mailbox is left out of the envelope (the sender checks each again). A notification to
    the ticket's team is neither a message of the conversation (it would fill `show` and
    the next notification's "last messages") nor an answer counted against a rate limit.
    """
    if withheld(out.kind) and (mark := mark_of(conn, out.rcpt_to)) is not None:
        write_event(conn, ticket_id, stamp, "mail_withheld",
                    f"{out.kind} to {out.rcpt_to} not sent: undeliverable ({mark})")
        return False
    if out.kind == "survey":
        conn.execute("INSERT OR IGNORE INTO surveys VALUES (?, ?)", (out.message_id, ticket_id))
    problem = mailbox_problem(out.rcpt_to)
    copies = [a for a in out.cc if is_mailbox(a)]
    cursor = conn.execute(
        "INSERT INTO outbox (ticket_id, kind, message_id, mail_from, rcpt_to, cc_tos,"
        " status, last_error, next_attempt_at, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (ticket_id, out.kind, out.message_id, out.mail_from, out.rcpt_to,
         json.dumps(copies, ensure_ascii=False), "failed" if problem else "pending",
         problem or "", stamp, stamp),
    )
    conn.execute("INSERT INTO outbox_raw (outbox_id, raw) VALUES (?, ?)",
                 (cursor.lastrowid, out.raw))
    if out.kind.startswith(TEAM_MAIL):
        return True
    reached = [] if problem else [out.rcpt_to, *copies]
    conn.executemany("INSERT INTO recent_replies VALUES (?, ?)",
                     [(address, stamp) for address in reached])
    insert_outbound(conn, ticket_id, out, stamp)
    return True


def recent_count(conn: Db, address: str, since: str) -> int:
    row = conn.execute("SELECT count(*) FROM recent_replies WHERE rcpt_to = ? AND at > ?",
                       (address, since)).fetchone()
    return int(row[0])


def is_survey(conn: Db, message_ids: tuple[str, ...]) -> bool:
    if not message_ids:
        return False
    marks = ",".join("?" * len(message_ids))
    return conn.execute(f"SELECT 1 FROM surveys WHERE message_id IN ({marks}) LIMIT 1",
                        message_ids).fetchone() is not None


def lease(conn: Db, stamp: str, everything: bool, after: int, limit: int,
          until: str, owner: str, lock: str = "") -> list[Leased]:
    """Up to `limit` pending rows past `after` (due at `stamp` unless `everything`), not
    leased by anyone else, leased to `owner` until `until`. In the caller's transaction.

    `lock` ends the SELECT: on PostgreSQL `FOR UPDATE OF o SKIP LOCKED`, so that two nodes
    leasing at once take different rows (a row another lease has locked is skipped, one it
    leased and committed is no longer free); SQLite's one writer needs nothing."""
    due = "" if everything else " AND o.next_attempt_at <= :now"
    rows = conn.execute(
        "SELECT o.id, o.message_id, o.mail_from, o.rcpt_to, r.raw, o.attempts, o.cc_tos,"
        " o.kind"
        " FROM outbox o JOIN outbox_raw r ON r.outbox_id = o.id"
        " WHERE o.status = 'pending' AND o.id > :after"
        " AND (o.lease_until IS NULL OR o.lease_until <= :now)" + due
        + " ORDER BY o.id LIMIT :limit" + lock,
        {"now": stamp, "after": after, "limit": limit},
    ).fetchall()
    conn.executemany("UPDATE outbox SET lease_until = ?, lease_owner = ? WHERE id = ?",
                     [(until, owner, row[0]) for row in rows])
    return [Leased(int(r[0]), r[1], r[2], r[3], bytes(r[4]), int(r[5]),
                   tuple(json.loads(r[6])), r[7]) for r in rows]


def record(conn: Db, attempts: list[Attempt], stamp: str) -> None:
    """Each row's outcome; its lease ends."""
    for a in attempts:
        conn.execute(
            "UPDATE outbox SET status = ?, attempts = ?, last_error = ?,"
            " lease_until = NULL, lease_owner = NULL,"
            " next_attempt_at = coalesce(?, next_attempt_at), sent_at = ? WHERE id = ?",
            (a.status, a.attempts, a.error, a.next_attempt_at,
             stamp if a.status == "sent" else None, a.id),
        )


def leases(conn: Db) -> list[tuple[int, str | None]]:
    """(row id, lease owner) of every pending row someone holds."""
    return [(int(r[0]), r[1]) for r in conn.execute(
        "SELECT id, lease_owner FROM outbox WHERE status = 'pending'"
        " AND lease_until IS NOT NULL").fetchall()]


def release(conn: Db, row_ids: list[int]) -> None:
    conn.executemany("UPDATE outbox SET lease_until = NULL, lease_owner = NULL WHERE id = ?",
                     [(row_id,) for row_id in row_ids])


def next_due(conn: Db) -> str | None:
    """When the next pending row is due (or its lease ends); None when nothing is pending."""
    row = conn.execute("SELECT min(CASE WHEN lease_until > next_attempt_at THEN lease_until"
                       " ELSE next_attempt_at END) FROM outbox"
                       " WHERE status = 'pending'").fetchone()
    return None if row is None or row[0] is None else str(row[0])


def listing(conn: Db, everything: bool) -> list[dict[str, Any]]:
    """`outbox ls`: the rows not sent (all with `everything`), with their ticket's number."""
    where = "" if everything else " WHERE o.status != 'sent'"
    rows = conn.execute(
        "SELECT o.id, o.status, o.kind, o.rcpt_to, o.message_id, o.attempts,"
        " o.next_attempt_at, o.last_error, o.created_at, t.number FROM outbox o"
        " LEFT JOIN tickets t ON t.id = o.ticket_id" + where + " ORDER BY o.id"
    ).fetchall()
    return [dict(row) for row in rows]
