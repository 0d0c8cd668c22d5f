"""`PortalStore` on SQLite: what the portal (maildaemon/portal/) reads and writes, so its
routes hold no SQL and name no backend (tests/test_storage_boundary.py). Each portal thread
opens one (backend.open_portal); every write commits on its own.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from maildaemon.domain import OutgoingMail
from maildaemon.store import portal_sessions, portal_tickets
from maildaemon.store.digests import enqueue_unticketed
from maildaemon.store.records import PortalMessage, PortalTicket
from maildaemon.store.sqlite_store import Store
from maildaemon.store.stamps import iso

REFUSED_FILES = (
    "SELECT r.filename, r.words FROM rejected_attachments r"
    " JOIN messages m ON m.id = r.message_row WHERE m.message_id = ? ORDER BY r.id")


class PortalOnSqlite:
    """The portal's queries on one connection of the ticket database (migrated on opening)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.conn = store.conn

    def close(self) -> None:
        self.store.close()

    def ping(self) -> None:
        """Raises the backend's error if the ticket database cannot be read."""
        self.conn.execute("SELECT 1 FROM tickets LIMIT 1").fetchall()

    # -- login links and sessions (portal_sessions.py) -----------------------------------

    def known_customer(self, email: str) -> bool:
        return portal_sessions.known_customer(self.conn, email)

    def add_login(self, token: str, email: str, now: datetime, valid: timedelta,
                  mail: OutgoingMail) -> None:
        """Store the link's token (hashed) and queue the mail that carries it, together."""
        with self.store.transaction() as conn:
            portal_sessions.add_login(conn, token, email, now, valid)
            enqueue_unticketed(conn, mail, iso(now))

    def use_login(self, token: str, now: datetime) -> tuple[str | None, str]:
        with self.store.transaction() as conn:
            return portal_sessions.use_login(conn, token, now)

    def add_session(self, email: str, now: datetime, valid: timedelta) -> str:
        with self.store.transaction() as conn:
            return portal_sessions.add_session(conn, email, now, valid)

    def session_email(self, token: str, now: datetime) -> str | None:
        return portal_sessions.session_email(self.conn, token, now)

    def end_session(self, token: str) -> None:
        with self.store.transaction() as conn:
            portal_sessions.end_session(conn, token)

    # -- submissions ---------------------------------------------------------------------

    def processed_outcome(self, spool_id: str) -> tuple[str, str | None] | None:
        return self.store.processed_outcome(spool_id)

    def refused_files(self, message_id: str) -> tuple[tuple[str, str], ...]:
        """The files of a message that were not kept, with the reason the customer was told."""
        rows = self.conn.execute(REFUSED_FILES, (message_id,)).fetchall()
        return tuple((str(r[0]), str(r[1])) for r in rows)

    # -- the customer's tickets (portal_tickets.py) --------------------------------------

    def tickets_of(self, email: str, limit: int) -> list[PortalTicket]:
        return portal_tickets.tickets_of(self.conn, email, limit)

    def ticket_of(self, email: str, number: str) -> PortalTicket | None:
        return portal_tickets.ticket_of(self.conn, email, number)

    def conversation(self, email: str,
                     number: str) -> tuple[PortalTicket, list[PortalMessage]] | None:
        return portal_tickets.conversation(self.conn, email, number)

    def file_of(self, email: str, number: str, file_id: int) -> tuple[str, str, bytes] | None:
        return portal_tickets.file_of(self.conn, self.store.blobs, email, number, file_id)
