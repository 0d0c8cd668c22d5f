"""The customer directory (m020): each known customer's tier, name and account manager.

The worker reads one row per message, by the sender's lower-cased address (the primary
key); `maildaemon customers` writes it. An import hands over its rows in batches, each
batch one transaction: a 100,000-row file is a few dozen commits, not 100,000 fsyncs.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from maildaemon.domain import Customer, CustomerChange, Tier
from maildaemon.store.db import Db, Row
from maildaemon.store.stamps import iso

COLUMNS = "email, tier, name, account_manager"

# None in a change keeps what the row has (named parameters: the DO UPDATE must see the
# value as given, before the insert's NULLIF turns "" into NULL).
UPSERT = (
    "INSERT INTO customers (email, tier, name, account_manager, updated_at)"
    " VALUES (:email, :tier, COALESCE(:name, ''), NULLIF(:manager, ''), :stamp)"
    " ON CONFLICT (email) DO UPDATE SET tier = :tier,"
    " name = COALESCE(:name, customers.name),"
    " account_manager = CASE WHEN :manager IS NULL THEN customers.account_manager"
    " ELSE NULLIF(:manager, '') END,"
    " updated_at = :stamp"
)


def customer_of(row: Row | tuple[str, str, str, str | None]) -> Customer:
    return Customer(email=row[0], tier=Tier(row[1]), name=row[2], account_manager=row[3])


def upsert(conn: Db, changes: Sequence[CustomerChange], stamp: str) -> int:
    """Adds or updates every change, in the caller's transaction; returns how many."""
    conn.executemany(UPSERT, [{"email": c.email.lower(), "tier": c.tier.value, "name": c.name,
                               "manager": c.account_manager, "stamp": stamp}
                              for c in changes])
    return len(changes)


def find(conn: Db, email: str) -> Customer | None:
    row = conn.execute(f"SELECT {COLUMNS} FROM customers WHERE email = ?",
                       (email.lower(),)).fetchone()
    return customer_of(row) if row else None


def everyone(conn: Db) -> list[Customer]:
    rows = conn.execute(f"SELECT {COLUMNS} FROM customers ORDER BY email").fetchall()
    return [customer_of(row) for row in rows]


def remove(conn: Db, email: str) -> bool:
    cursor = conn.execute("DELETE FROM customers WHERE email = ?", (email.lower(),))
    return cursor.rowcount == 1


class CustomersOnSqlite:
    """`CustomerDirectory` and the context's customer read, mixed into `Store` (which has
    `conn`). The writes open their own transaction."""

    conn: Db

    def transaction(self) -> AbstractContextManager[Any]:
        raise NotImplementedError  # the backend's (sqlite_store.Store)

    def customer(self, email: str) -> Customer | None:
        return find(self.conn, email)

    def customers(self) -> list[Customer]:
        return everyone(self.conn)

    def upsert_customers(self, changes: Sequence[CustomerChange], now: datetime) -> int:
        with self.transaction():
            return upsert(self.conn, changes, iso(now))

    def remove_customer(self, email: str) -> bool:
        with self.transaction():
            return remove(self.conn, email)
