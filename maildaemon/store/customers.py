"""The customer directory (m020): each known customer's tier, name and account manager.

The worker reads one row per message, by the sender's lower-cased address (the primary
key); `maildaemon customers` writes it. An import hands over its rows in batches, each
batch one transaction: a 100,000-row file is a few dozen commits, not 100,000 fsyncs.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from maildaemon.domain import Customer, CustomerChange, Tier
from maildaemon.sqlite import immediate
from maildaemon.store.stamps import iso

COLUMNS = "email, tier, name, account_manager"

# None in a change keeps what the row has (numbered parameters: the DO UPDATE must see the
# value as given, before the insert's NULLIF turns "" into NULL).
UPSERT = (
    "INSERT INTO customers (email, tier, name, account_manager, updated_at)"
    " VALUES (?1, ?2, COALESCE(?3, ''), NULLIF(?4, ''), ?5)"
    " ON CONFLICT (email) DO UPDATE SET tier = ?2,"
    " name = COALESCE(?3, customers.name),"
    " account_manager = CASE WHEN ?4 IS NULL THEN customers.account_manager"
    " ELSE NULLIF(?4, '') END,"
    " updated_at = ?5"
)


def customer_of(row: sqlite3.Row | tuple[str, str, str, str | None]) -> Customer:
    return Customer(email=row[0], tier=Tier(row[1]), name=row[2], account_manager=row[3])


def upsert(conn: sqlite3.Connection, changes: Sequence[CustomerChange], stamp: str) -> int:
    """Adds or updates every change, in the caller's transaction; returns how many."""
    conn.executemany(UPSERT, [(c.email.lower(), c.tier.value, c.name, c.account_manager,
                               stamp) for c in changes])
    return len(changes)


def find(conn: sqlite3.Connection, email: str) -> Customer | None:
    row = conn.execute(f"SELECT {COLUMNS} FROM customers WHERE email = ?",
                       (email.lower(),)).fetchone()
    return customer_of(row) if row else None


def everyone(conn: sqlite3.Connection) -> list[Customer]:
    rows = conn.execute(f"SELECT {COLUMNS} FROM customers ORDER BY email").fetchall()
    return [customer_of(row) for row in rows]


def remove(conn: sqlite3.Connection, email: str) -> bool:
    cursor = conn.execute("DELETE FROM customers WHERE email = ?", (email.lower(),))
    return cursor.rowcount == 1


class CustomersOnSqlite:
    """`CustomerDirectory` and the context's customer read, mixed into `Store` (which has
    `conn`). The writes open their own transaction."""

    conn: sqlite3.Connection

    def customer(self, email: str) -> Customer | None:
        return find(self.conn, email)

    def customers(self) -> list[Customer]:
        return everyone(self.conn)

    def upsert_customers(self, changes: Sequence[CustomerChange], now: datetime) -> int:
        with immediate(self.conn):
            return upsert(self.conn, changes, iso(now))

    def remove_customer(self, email: str) -> bool:
        with immediate(self.conn):
            return remove(self.conn, email)
