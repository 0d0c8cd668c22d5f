"""The portal's login links and sessions (m028), on the ticket database.

Tokens are random (32 bytes, URL-safe) and only their SHA-256 is stored: the login link lives
in the customer's mailbox and the session in their cookie, never readable in a copy of the
database. A login link is single-use: `use_login` marks it used in the statement that finds
it, so two clicks at once start one session.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from maildaemon.store.db import Db
from maildaemon.store.stamps import iso


def new_token() -> tuple[str, str]:
    """(token, its hash as stored)."""
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def add_login(conn: Db, token: str, email: str, now: datetime,
              valid: timedelta) -> None:
    """Store a new login link's token (its hash) for `email`, valid for `valid` from `now`."""
    conn.execute("DELETE FROM portal_logins WHERE expires_at < ?", (iso(now - valid),))
    conn.execute("INSERT INTO portal_logins (token_hash, email, created_at, expires_at)"
                 " VALUES (?, ?, ?, ?)", (token_hash(token), email, iso(now), iso(now + valid)))


def use_login(conn: Db, token: str, now: datetime) -> tuple[str | None, str]:
    """(email, "") for a valid unused link, now used; (None, why) for any other: "unknown",
    "used" or "expired"."""
    hashed = token_hash(token)
    row = conn.execute(
        "UPDATE portal_logins SET used_at = ? WHERE token_hash = ? AND used_at IS NULL"
        " AND expires_at > ? RETURNING email", (iso(now), hashed, iso(now))).fetchone()
    if row is not None:
        return str(row[0]), ""
    seen = conn.execute("SELECT used_at FROM portal_logins WHERE token_hash = ?",
                        (hashed,)).fetchone()
    if seen is None:
        return None, "unknown"
    return None, "used" if seen[0] is not None else "expired"


def add_session(conn: Db, email: str, now: datetime,
                valid: timedelta) -> str:
    token, hashed = new_token()
    conn.execute("DELETE FROM portal_sessions WHERE expires_at < ?", (iso(now),))
    conn.execute("INSERT INTO portal_sessions (session_hash, email, created_at, expires_at)"
                 " VALUES (?, ?, ?, ?)", (hashed, email, iso(now), iso(now + valid)))
    return token


def session_email(conn: Db, token: str, now: datetime) -> str | None:
    row = conn.execute("SELECT email FROM portal_sessions WHERE session_hash = ?"
                       " AND expires_at > ?", (token_hash(token), iso(now))).fetchone()
    return None if row is None else str(row[0])


def end_session(conn: Db, token: str) -> None:
    conn.execute("DELETE FROM portal_sessions WHERE session_hash = ?", (token_hash(token),))


# Someone we have heard from or about: a ticket's participant (its requester is one), or a
# customer of the directory (customers_cli.py); both indexed (m029 for participants).
KNOWN_CUSTOMER = (
    "SELECT EXISTS (SELECT 1 FROM customers WHERE email = :email)"
    " OR EXISTS (SELECT 1 FROM participants WHERE lower(address) = :email)")


def known_customer(conn: Db, email: str) -> bool:
    """Whether `email` (compared in lower case) may receive a login link."""
    row = conn.execute(KNOWN_CUSTOMER, {"email": email.lower()}).fetchone()
    return bool(row[0])
