"""The SLA clocks' SQL: tickets overdue and not yet reported, the once-only breach mark,
and the report's rows.

The sweep's queries read only the partial indexes of m022 (`tickets_response_due`,
`tickets_resolution_due`): tickets whose clock still runs and whose breach was not
reported, a few however large the database; their WHERE repeats each index's condition
word for word, which is what lets SQLite choose it. Marking a breach takes the ticket out
of its index, so each is found once.
"""

from __future__ import annotations

from typing import Any

from maildaemon.store.db import Db

FIRST_RESPONSE, RESOLUTION = "first_response", "resolution"  # policy.sla.Kind's values

OVERDUE = {
    FIRST_RESPONSE: "SELECT id FROM tickets WHERE first_response_at IS NULL"
                    " AND response_breached = 0 AND first_response_due <= ?"
                    " ORDER BY first_response_due LIMIT ?",
    RESOLUTION: "SELECT id FROM tickets WHERE resolved_at IS NULL"
                " AND resolution_breached = 0 AND status <> 'waiting' AND resolution_due <= ?"
                " ORDER BY resolution_due LIMIT ?",
}
# The same conditions again inside the transaction: an answer, a resolution or a wait
# that came between the query and the mark means there is nothing to report.
MARK = {
    FIRST_RESPONSE: "UPDATE tickets SET response_breached = 1 WHERE id = ?"
                    " AND first_response_at IS NULL AND response_breached = 0"
                    " AND first_response_due <= ?",
    RESOLUTION: "UPDATE tickets SET resolution_breached = 1 WHERE id = ?"
                " AND resolved_at IS NULL AND resolution_breached = 0"
                " AND status <> 'waiting' AND resolution_due <= ?",
}
REPORT = (
    "SELECT queue, priority, tier, status, status_since, first_response_due,"
    " first_response_at, resolution_due, resolved_at FROM tickets"
    " WHERE created_at >= ? AND created_at < ? ORDER BY id")


def overdue_ids(conn: Db, kind: str, stamp: str, limit: int) -> list[int]:
    """Tickets whose `kind` target fell due by `stamp` unmet and unreported, oldest due
    first."""
    return [int(row[0]) for row in conn.execute(OVERDUE[kind], (stamp, limit))]


def mark_breached(conn: Db, ticket_id: int, kind: str, stamp: str) -> bool:
    """True when the breach is still there and now marked reported (once: the caller
    alerts in the same transaction)."""
    return conn.execute(MARK[kind], (ticket_id, stamp)).rowcount == 1


def report_rows(conn: Db, since: str, until: str) -> list[dict[str, Any]]:
    """The SLA columns of the tickets created in [since, until)."""
    return [dict(row) for row in conn.execute(REPORT, (since, until))]
