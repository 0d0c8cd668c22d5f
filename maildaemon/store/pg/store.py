"""`PgStore`: the ticket store on PostgreSQL, `TicketStore` by the same entity modules as
SQLite's `Store`, whose composition it inherits; what differs is how it connects, begins a
transaction and where bytes live.

Everything a ticket has is in the database, raw messages and files too (BYTEA, however
large: no per-node file another node would need), so `file_roots` is empty and nothing is
staged beside a transaction. Purge deletes rows as on SQLite; PostgreSQL's own VACUUM
reclaims their space later (`settle` has nothing to checkpoint).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from maildaemon.store import tickets
from maildaemon.store.blobs import Blobs
from maildaemon.store.db import Db
from maildaemon.store.pg import migrations
from maildaemon.store.pg.connection import PgConnection
from maildaemon.store.pg.pooled import PooledConnection
from maildaemon.store.purge import Keys
from maildaemon.store.reads import Reads
from maildaemon.store.sqlite_store import Store

FOREIGN_KEYS = (
    "SELECT p.relname, c.relname, a.attname, pa.attname FROM pg_constraint k"
    " JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class p ON p.oid = k.confrelid"
    " JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]"
    " JOIN pg_attribute pa ON pa.attrelid = k.confrelid AND pa.attnum = k.confkey[1]"
    " WHERE k.contype = 'f' AND c.relnamespace = current_schema()::regnamespace"
    " ORDER BY c.relname")


class InDatabase(Blobs):
    """Every message's and file's bytes in their row, whatever their size."""

    def _place(self, data: bytes, where: Callable[[], Path]) -> tuple[bytes, str | None]:
        return data, None

    def file_roots(self) -> list[Path]:
        return []


class PgStore(Store):
    """Several nodes may write at once (READ COMMITTED): what SQLite's one writer made safe
    is made so here by the database (issue 15, 3 and 4). Every message's dedup hash is on
    its `processed` row, under the unique index; a ticket a transaction changes on a
    decision read before is locked first (`hold_ticket*`); an outbox lease skips the rows
    another node's lease has locked."""

    KEY_ALWAYS = True
    LEASE_LOCK = " FOR UPDATE OF o SKIP LOCKED"

    def __init__(self, url: str, data_dir: Path, password: str | None = None,
                 migrate: bool = True, pool_size: int = 0) -> None:
        """`data_dir` is the node's own (its spool, its logs); no ticket data goes there.
        `migrate=False` (for `decide`) creates and changes nothing: a database without
        our schema, or at another version, is refused as SQLite's is. `pool_size`: a store
        that threads share, on a pool of that many connections (pooled.py), for the portal;
        0, one connection of its own, as the worker, the sender and the commands hold."""
        first = PgConnection.open(url, password)
        if migrate:
            migrations.apply(first)
        else:
            migrations.check(first)
        conn: PgConnection | PooledConnection = first
        if pool_size:
            first.close()
            conn = PooledConnection.open(url, password, pool_size, "maildaemon-portal")
        self.pg = conn
        self.conn = conn  # type: ignore[assignment]
        self.path = data_dir
        self.checkpointer = None
        self.ids = tickets.TicketIds()
        self.blobs = InDatabase(data_dir)
        self.reads = Reads(conn, self.blobs)

    def close(self) -> None:
        self.pg.close()

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        with self.pg.transaction():
            yield self.pg

    def savepoint(self) -> AbstractContextManager[Any]:
        return self.pg.transaction()

    def hold_ticket(self, number: str) -> None:
        self.pg.execute(tickets.HOLD_BY_NUMBER, (number,))

    def hold_ticket_id(self, ticket_id: int) -> None:
        self.pg.execute(tickets.HOLD_BY_ID, (ticket_id,))

    def foreign_keys(self, conn: Db) -> Keys:
        found: Keys = {}
        for parent, child, column, parent_column in conn.execute(FOREIGN_KEYS):
            found.setdefault(parent, []).append((child, column, parent_column))
        return found

    def shared_secret(self, fresh: str) -> str:
        """The installation's HMAC key, the same for every node: `fresh` if none was
        kept yet (the first node to ask keeps its own; the others read it)."""
        self.pg.execute("INSERT INTO installation (name, value) VALUES ('secret', ?)"
                        " ON CONFLICT (name) DO NOTHING", (fresh,))
        row = self.pg.execute("SELECT value FROM installation WHERE name = 'secret'"
                              ).fetchone()
        return str(row[0])

    def secure_delete(self, on: bool) -> None:
        """Nothing to switch: a deleted row's space is PostgreSQL's VACUUM's to reclaim."""

    def settle(self) -> None:
        """No write-ahead log of ours to checkpoint: PostgreSQL's is its own."""
