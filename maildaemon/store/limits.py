"""What the header-independent limits and the duplicate rule remember (m025).

- `recent_replies` (the per-address limits): the mail we queued to each address, kept a
  day (the daily limit; the hourly one counts its last hour), in one index range;
- `recent_openings`: one row per message that asked for a new ticket, kept until its
  flood window ends, counted per sender up to the flood limit (never further: a flood
  of a thousand costs each message the same few index entries);
- `flood_tickets`: each address's flood ticket, which its further mail joins;
- `recent_texts`: the duplicate key of each message that opened a ticket, kept until the
  duplicate window ends, with the ticket it opened;
- `tickets.acked_at`, `tickets.duplicate_noticed_at`: the last receipt confirmation and
  duplicate notice queued on a ticket, read with the ticket's row (no lookup of its own).

The small tables hold only their window, pruned by the sweep (`forget`), so their pages
stay in the cache however large the database grows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from maildaemon.domain import Decision, OutgoingMail
from maildaemon.store.db import Db
from maildaemon.store.dedup import key_hash
from maildaemon.store.stamps import iso

HOUR = timedelta(hours=1)  # autoreply.max_per_hour counts over this
DAY = timedelta(days=1)  # autoreply.max_per_day counts over this; kept as long
RECEIPTS = frozenset({"ack", "reply_received", "flood", "duplicate_received"})
REPLY_COUNTS = ("SELECT count(*), coalesce(sum(CASE WHEN at > ? THEN 1 ELSE 0 END), 0)"
                " FROM recent_replies"
                " WHERE rcpt_to = ? AND at > ?")
OPENINGS = ("SELECT count(*) FROM (SELECT 1 FROM recent_openings"
            " WHERE address = ? AND until > ? LIMIT ?) AS recent")
FLOOD_TICKET = ("SELECT t.* FROM flood_tickets f JOIN tickets t ON t.id = f.ticket_id"
                " WHERE f.address = ?")
SAME_TEXT = ("SELECT t.* FROM recent_texts r JOIN tickets t ON t.id = r.ticket_id"
             " WHERE r.key_hash = ? AND r.until > ? ORDER BY r.until LIMIT 1")


def reply_counts(conn: Db, address: str, now: datetime) -> tuple[int, int]:
    """Mail we queued to `address` in the hour and in the day before `now`."""
    day, hour = conn.execute(REPLY_COUNTS, (iso(now - HOUR), address, iso(now - DAY))
                             ).fetchone()
    return int(hour), int(day)


def openings(conn: Db, address: str, now: datetime, limit: int) -> int:
    """Messages from `address` that asked for a new ticket within their flood window,
    counted up to `limit`."""
    return int(conn.execute(OPENINGS, (address, iso(now), limit)).fetchone()[0])


def flood_ticket(conn: Db, address: str) -> Any:
    return conn.execute(FLOOD_TICKET, (address,)).fetchone()


def same_text(conn: Db, key: str, now: datetime) -> Any:
    """The ticket the first message with this duplicate key opened, within the window."""
    return conn.execute(SAME_TEXT, (key_hash(key), iso(now))).fetchone()


def remember(conn: Db, ticket_id: int, decision: Decision,
             sent: Sequence[OutgoingMail], stamp: str) -> None:
    """After a decision on `ticket_id` was written: its opening, its receipts."""
    opening = decision.opening
    if opening is not None:
        conn.execute("INSERT INTO recent_openings VALUES (?, ?)",
                     (opening.sender, iso(opening.until)))
        if decision.new_ticket is not None and opening.text_key and opening.text_until:
            conn.execute("INSERT INTO recent_texts VALUES (?, ?, ?)",
                         (key_hash(opening.text_key), iso(opening.text_until), ticket_id))
        if decision.new_ticket is not None and opening.flood:
            conn.execute("INSERT OR REPLACE INTO flood_tickets VALUES (?, ?)",
                         (opening.sender, ticket_id))
    kinds = {out.kind for out in sent}
    if kinds & RECEIPTS:
        conn.execute("UPDATE tickets SET acked_at = ? WHERE id = ?", (stamp, ticket_id))
    if "duplicate_received" in kinds:
        conn.execute("UPDATE tickets SET duplicate_noticed_at = ? WHERE id = ?",
                     (stamp, ticket_id))


def forget(conn: Db, now: datetime) -> int:
    """The sweep's pruning: replies older than a day, openings and texts whose window
    ended. Returns how many rows went."""
    gone = conn.execute("DELETE FROM recent_replies WHERE at <= ?", (iso(now - DAY),)).rowcount
    gone += conn.execute("DELETE FROM recent_openings WHERE until <= ?", (iso(now),)).rowcount
    gone += conn.execute("DELETE FROM recent_texts WHERE until <= ?", (iso(now),)).rowcount
    return gone
