"""`PooledConnection`: a `Db` that many threads share, on psycopg_pool's ConnectionPool.

The portal answers on Starlette's thread pool (up to 40 threads): a connection per thread,
as the worker and the sender each hold one, would cost each node 40 server connections for
a few page views a minute. Here a statement outside a transaction borrows a connection for
itself and gives it back with its rows read; a transaction holds one for its duration, on
its thread (nested ones are savepoints on it). A connection the server dropped is discarded
when it comes back to the pool, and the next borrower gets a new one: a node resumes by
itself when its database returns.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from maildaemon.store.pg.connection import (
    ID_TABLES,
    PgCursor,
    PgRow,
    WholeNumbers,
    parameters,
    pg_row,
    translate,
)


def configure(conn: psycopg.Connection[Any]) -> None:
    conn.adapters.register_loader("numeric", WholeNumbers)


class PooledConnection:
    def __init__(self, pool: ConnectionPool[psycopg.Connection[PgRow]]) -> None:
        self.pool = pool
        self.local = threading.local()
        self.id_tables: frozenset[str] = frozenset()
        self.refresh_tables()

    @classmethod
    def open(cls, url: str, password: str | None, size: int, name: str,
             timeout: float = 10.0) -> PooledConnection:
        """`name`: the connections' application_name (pg_stat_activity shows whose)."""
        kwargs: dict[str, Any] = {"autocommit": True, "row_factory": pg_row,
                                  "connect_timeout": max(1, int(timeout)),
                                  "application_name": name}
        if password:
            kwargs["password"] = password
        pool: ConnectionPool[psycopg.Connection[PgRow]] = ConnectionPool(
            url, kwargs=kwargs, configure=configure, min_size=1, max_size=size,
            timeout=timeout, open=True, name=name)
        return cls(pool)

    def refresh_tables(self) -> None:
        rows = self.execute(ID_TABLES).fetchall()
        self.id_tables = frozenset(str(r[0]) for r in rows)

    def _held(self) -> psycopg.Connection[PgRow] | None:
        held: psycopg.Connection[PgRow] | None = getattr(self.local, "conn", None)
        return held

    def execute(self, sql: str, params: Any = None, /) -> PgCursor:
        text, wants_id = translate(sql, self.id_tables)
        held = self._held()
        if held is not None:
            return PgCursor(held.cursor().execute(text.encode(), parameters(params)), wants_id)
        with self.pool.connection() as conn:
            return PgCursor(conn.cursor().execute(text.encode(), parameters(params)), wants_id)

    def executemany(self, sql: str, seq: Iterable[Any], /) -> PgCursor:
        with self.transaction():
            held = self._held()
            assert held is not None
            cursor = held.cursor()
            cursor.executemany(translate(sql, frozenset())[0].encode(),
                               [parameters(p) for p in seq])
            return PgCursor(cursor, False)

    def transaction(self) -> AbstractContextManager[Any]:
        """BEGIN ... COMMIT on a connection this thread holds until the end, or a
        savepoint inside the transaction the thread is already in."""
        return self._transaction()

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        held = self._held()
        if held is not None:
            with held.transaction() as savepoint:
                yield savepoint
            return
        with self.pool.connection() as conn:
            self.local.conn = conn
            try:
                with conn.transaction() as tx:
                    yield tx
            finally:
                self.local.conn = None

    def close(self) -> None:
        self.pool.close()
