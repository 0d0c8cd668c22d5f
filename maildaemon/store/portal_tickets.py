"""What a logged-in customer (or the app's backend, for one customer) may read of tickets.

A customer sees a ticket when they are one of its participants (its requester is one; so
is anyone copied), found by the m029 index on `lower(address)`. Of its conversation they
see the messages they wrote and the ones we sent to them (To or Cc): what their own mailbox
already holds, so the portal never shows anything mail did not. Agents' internal notes are
events and never listed; a team notification went to agents, not to them. A purged ticket
(retention) has nothing left to show and is not listed.

Every query takes the customer's address in lower case and answers "nothing" for a ticket
that is not theirs, so a route cannot tell another customer's ticket from a missing one.
"""

from __future__ import annotations

from maildaemon.store.blobs import Blobs
from maildaemon.store.db import Db, Row
from maildaemon.store.records import PortalFile, PortalMessage, PortalTicket

TICKET_COLUMNS = ("t.number, t.subject, t.status, t.created_at, t.updated_at, t.closed_at,"
                  " t.queue")
MINE = ("EXISTS (SELECT 1 FROM participants p WHERE p.ticket_id = t.id"
        " AND lower(p.address) = :email)")
TICKETS_OF = (f"SELECT {TICKET_COLUMNS} FROM tickets t WHERE {MINE} AND t.purged_at IS NULL"
              " ORDER BY t.updated_at DESC, t.id DESC LIMIT :limit")
TICKET_OF = (f"SELECT t.id, {TICKET_COLUMNS} FROM tickets t WHERE t.number = :number"
             f" AND {MINE} AND t.purged_at IS NULL")
# Ours to them: their address in the JSON lists of recipients, in any case.
SEEN = ("(m.direction = 'inbound' AND lower(m.from_addr) = :email) OR (m.direction = 'outbound'"
        " AND EXISTS (SELECT 1 FROM json_each(m.to_addrs) WHERE lower(value) = :email"
        " UNION ALL SELECT 1 FROM json_each(m.cc_addrs) WHERE lower(value) = :email))")
MESSAGES_SEEN = ("SELECT m.id, m.direction, m.from_addr, m.date, m.text, m.own_text,"
                 " m.message_id FROM timeline tl JOIN messages m ON m.id = tl.row_id"
                 f" WHERE tl.ticket_id = :ticket AND tl.kind = 'message' AND ({SEEN})"
                 " ORDER BY tl.row_id")
FILES_OF = ("SELECT id, message_row, filename, content_type, size FROM attachments"
            " WHERE ticket_id = :ticket AND inline = 0 ORDER BY id")
REFUSED_OF = ("SELECT message_row, filename, words FROM rejected_attachments"
              " WHERE ticket_id = :ticket ORDER BY id")
FILE_OF = ("SELECT a.filename, a.content_type, a.sha256 FROM attachments a"
           " JOIN messages m ON m.id = a.message_row"
           f" WHERE a.id = :file AND a.ticket_id = :ticket AND ({SEEN})")


def _ticket(row: Row) -> PortalTicket:
    return PortalTicket(number=row["number"], subject=row["subject"], status=row["status"],
                        created_at=row["created_at"], updated_at=row["updated_at"],
                        closed_at=row["closed_at"], queue=row["queue"])


def tickets_of(conn: Db, email: str, limit: int) -> list[PortalTicket]:
    """The customer's tickets, the most recently updated first."""
    rows = conn.execute(TICKETS_OF, {"email": email.lower(), "limit": limit}).fetchall()
    return [_ticket(r) for r in rows]


def _ticket_id(conn: Db, email: str,
               number: str) -> tuple[int, PortalTicket] | None:
    row = conn.execute(TICKET_OF, {"email": email.lower(), "number": number}).fetchone()
    return None if row is None else (int(row["id"]), _ticket(row))


def ticket_of(conn: Db, email: str, number: str) -> PortalTicket | None:
    found = _ticket_id(conn, email, number)
    return None if found is None else found[1]


def conversation(conn: Db, email: str,
                 number: str) -> tuple[PortalTicket, list[PortalMessage]] | None:
    """The ticket and the messages the customer wrote or received, oldest first, each with
    its files (inline images of a signature are not listed) and the files not kept."""
    found = _ticket_id(conn, email, number)
    if found is None:
        return None
    ticket_id, ticket = found
    params = {"email": email.lower(), "ticket": ticket_id}
    files: dict[int, list[PortalFile]] = {}
    for f in conn.execute(FILES_OF, params):
        files.setdefault(int(f["message_row"]), []).append(PortalFile(
            int(f["id"]), f["filename"], f["content_type"], int(f["size"])))
    refused: dict[int, list[tuple[str, str]]] = {}
    for r in conn.execute(REFUSED_OF, params):
        refused.setdefault(int(r["message_row"]), []).append((r["filename"], r["words"]))
    messages = [PortalMessage(
        mine=m["direction"] == "inbound", author=m["from_addr"], date=m["date"],
        text=m["own_text"] or m["text"] if m["direction"] == "inbound" else m["text"],
        message_id=m["message_id"], files=tuple(files.get(int(m["id"]), ())),
        refused=tuple(refused.get(int(m["id"]), ())))
        for m in conn.execute(MESSAGES_SEEN, params)]
    return ticket, messages


def file_of(conn: Db, blobs: Blobs, email: str, number: str,
            file_id: int) -> tuple[str, str, bytes] | None:
    """(filename, content type, bytes) of a file on a message the customer wrote or
    received on their ticket; None for any other."""
    found = _ticket_id(conn, email, number)
    if found is None:
        return None
    row = conn.execute(FILE_OF, {"email": email.lower(), "ticket": found[0],
                                 "file": file_id}).fetchone()
    if row is None:
        return None
    data = blobs.attachment(conn, row["sha256"])
    return None if data is None else (row["filename"], row["content_type"], data)
