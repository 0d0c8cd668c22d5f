"""The outbox backlog on PostgreSQL, for health and metrics (store/backlog.py's twin): its
own connection, opened on first use from whatever thread asks, one statement at a time. A
database not yet created by the worker counts as an empty backlog."""

from __future__ import annotations

import threading

import psycopg

from maildaemon.store.pg.connection import PgRow, connect


class PgBacklog:
    def __init__(self, url: str, password: str | None) -> None:
        self.url = url
        self.password = password
        self.conn: psycopg.Connection[PgRow] | None = None
        self.lock = threading.Lock()

    def outbox_pending(self) -> int:
        with self.lock:
            if self.conn is None or self.conn.closed:
                self.conn = connect(self.url, self.password, timeout=5)
            try:
                row = self.conn.execute(
                    "SELECT count(*) FROM outbox WHERE status = 'pending'").fetchone()
            except psycopg.errors.UndefinedTable:
                return 0
            return int(row[0]) if row else 0

    def close(self) -> None:
        with self.lock:
            if self.conn is not None:
                self.conn.close()
