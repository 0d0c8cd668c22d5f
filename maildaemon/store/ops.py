"""The operator's commands on the ticket database: `stats` and `outbox retry`
(interface.OperatorStore; backend.open_operator hands it out).

`stats` reads aggregates only: one GROUP BY pass over the tickets (status, queue and
priority, with the m022 breach flags summed in the same pass), and per-status counts of the
outbox over its `outbox_due` index. Nothing is written.

`outbox retry` puts a failed or deferred row back to pending, due now, with its attempts
reset: the sender (the daemon's thread polls at least every few seconds, or `maildaemon
flush`) delivers it with the whole retry schedule ahead of it, as if new. Its last error is
kept until the next attempt replaces it. A sent row is refused: sending twice is the
recipient's problem, and a resend is an agent's decision (`maildaemon reply`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from maildaemon.domain import Priority, Status
from maildaemon.store.db import Transactional
from maildaemon.store.stamps import iso

OUTBOX_STATES = ("pending", "failed", "sent")


@dataclass(frozen=True)
class OutboxRetry:
    """What `retry_outbox` did: `outcome` is "retrying", "sent" (refused), or "missing";
    the row's previous status, recipient, Message-ID and last error where there was one."""

    outcome: str
    status: str = ""
    rcpt_to: str = ""
    message_id: str = ""
    last_error: str = ""
    sent_at: str | None = None
    leased: bool = False


class OperatorOnSqlite:
    def __init__(self, store: Transactional) -> None:
        self.store = store
        self.conn = store.conn

    def close(self) -> None:
        self.conn.close()

    def ticket_stats(self) -> dict[str, Any]:
        by_status = dict.fromkeys((s.value for s in Status), 0)
        by_priority = dict.fromkeys((p.value for p in Priority), 0)
        by_queue: dict[str, int] = {}
        breaches = {"first_response": 0, "resolution": 0, "first_response_open": 0,
                    "resolution_open": 0}
        total = 0
        for status, queue, priority, count, response, resolution in self.conn.execute(
                "SELECT status, queue, priority, count(*), sum(response_breached),"
                " sum(resolution_breached) FROM tickets GROUP BY status, queue, priority"):
            total += count
            by_status[status] = by_status.get(status, 0) + count
            by_queue[queue] = by_queue.get(queue, 0) + count
            by_priority[priority] = by_priority.get(priority, 0) + count
            breaches["first_response"] += response or 0
            breaches["resolution"] += resolution or 0
            if status not in (Status.RESOLVED.value, Status.CLOSED.value):
                breaches["first_response_open"] += response or 0
                breaches["resolution_open"] += resolution or 0
        return {"total": total, "by_status": by_status,
                "by_queue": dict(sorted(by_queue.items())), "by_priority": by_priority,
                "sla_breaches": breaches}

    def outbox_stats(self, now: datetime) -> dict[str, Any]:
        counts = dict.fromkeys(OUTBOX_STATES, 0)
        for status, count in self.conn.execute(
                "SELECT status, count(*) FROM outbox GROUP BY status"):
            counts[status] = int(count)
        row = self.conn.execute("SELECT min(next_attempt_at), count(*) FROM outbox"
                                " WHERE status = 'pending' AND next_attempt_at <= ?",
                                (iso(now),)).fetchone()
        deferred = self.conn.execute("SELECT count(*) FROM outbox WHERE status = 'pending'"
                                     " AND attempts > 0").fetchone()[0]
        return {**counts, "due": int(row[1]), "oldest_due_at": row[0],
                "deferred": int(deferred)}

    def retry_outbox(self, row_id: int, now: datetime) -> OutboxRetry:
        stamp = iso(now)
        with self.store.transaction():
            conn = self.conn
            row = conn.execute("SELECT status, rcpt_to, message_id, last_error, sent_at,"
                               " lease_until FROM outbox WHERE id = ?", (row_id,)).fetchone()
            if row is None:
                return OutboxRetry("missing")
            status, rcpt_to, message_id, error, sent_at, lease = tuple(row)
            if status == "sent":
                return OutboxRetry("sent", status, rcpt_to, message_id, error, sent_at)
            conn.execute("UPDATE outbox SET status = 'pending', attempts = 0,"
                         " next_attempt_at = ? WHERE id = ?", (stamp, row_id))
        return OutboxRetry("retrying", status, rcpt_to, message_id, error, None,
                           leased=lease is not None and lease > stamp)
