"""A ticket's events: the one place that writes them (the worker's trace, the sweep, the
agents' commands), so their shape is decided here once."""

from __future__ import annotations

from collections.abc import Iterable

from maildaemon.store.db import Db

# (ticket_id, at, type, detail)
EventRow = tuple[int, str, str, str]


def write_events(conn: Db, rows: Iterable[EventRow]) -> None:
    """Every event row, in one statement: the worker writes a message's trace at once."""
    conn.executemany(
        "INSERT INTO events (ticket_id, at, type, detail) VALUES (?, ?, ?, ?)", rows
    )


def write_event(conn: Db, ticket_id: int, stamp: str, type_: str,
                detail: str) -> None:
    write_events(conn, [(ticket_id, stamp, type_, detail)])
