"""A ticket in short, for the team notifications (notifications.py): its state, how many
files it holds and the start of its last received messages. Read before the worker's write
lock, like the rest of a message's rendering."""

from __future__ import annotations

from maildaemon.store.db import Db
from maildaemon.store.records import MessageBrief, TicketBrief

BRIEF_CHARS = 200  # of each recent message's own text
RECENT_MESSAGES = (
    "SELECT m.from_addr, m.date, coalesce(nullif(m.own_text, ''), m.text)"
    " FROM timeline t JOIN messages m ON m.id = t.row_id"
    " WHERE t.ticket_id = ? AND t.kind = 'message' AND m.direction = 'inbound'"
    " AND m.automated IS NULL ORDER BY t.row_id DESC LIMIT ?"
)


def one_line(text: str, limit: int = BRIEF_CHARS) -> str:
    """The start of a text on one line; "..." where it was cut."""
    flat = " ".join(text[:limit * 4].split())
    return flat if len(flat) <= limit else flat[:limit - 3].rstrip() + "..."


def ticket_brief(conn: Db, number: str, last: int) -> TicketBrief | None:
    """The ticket `number` in short, with its `last` received people's messages, newest
    first (automatic mail kept on it is left out: it is nobody's words)."""
    row = conn.execute(
        "SELECT id, priority, status, first_response_due, due_at FROM tickets"
        " WHERE number = ?", (number,)).fetchone()
    if row is None:
        return None
    files = conn.execute("SELECT count(*) FROM attachments WHERE ticket_id = ?",
                         (row[0],)).fetchone()[0]
    recent = conn.execute(RECENT_MESSAGES, (row[0], max(last, 0))).fetchall()
    return TicketBrief(
        priority=row[1], status=row[2], first_response_due=row[3], due_at=row[4],
        files_stored=int(files),
        recent=tuple(MessageBrief(r[0], r[1], one_line(r[2] or "")) for r in recent))
