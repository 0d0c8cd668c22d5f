"""A database written by an earlier version opens with everything still found."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlite_utils

from maildaemon.schema import migrations
from maildaemon.sqlite import connect
from maildaemon.store import (
    EVENTS_OF_TICKET,
    LAST_RECEIVED_MESSAGE_ID,
    MESSAGES_OF_TICKET,
    Store,
    iso,
    key_hash,
)


def test_a_database_from_before_the_growth_work_keeps_keys_limits_threads_and_bytes(
        tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    conn = connect(data / "maildaemon.sqlite3")
    migrations.apply(sqlite_utils.Database(conn), stop_before="m011_fewer_random_index_inserts")
    recent = iso(datetime.now(UTC) - timedelta(minutes=10))
    conn.executescript(f"""
        INSERT INTO tickets (id, number, status, priority, queue, requester, subject,
            created_at, updated_at) VALUES (7, 'HS-000007', 'open', 'medium', 'support',
            'ann@example.org', 'printer', '{recent}', '{recent}');
        INSERT INTO participants VALUES (7, 'ann@example.org', 'requester');
        INSERT INTO raw_messages (sha256, raw) VALUES ('{"ab" * 32}', x'48656c6c6f');
        INSERT INTO messages (ticket_id, direction, message_id, from_addr, to_addrs, subject,
            date, text, raw_sha256) VALUES
            (7, 'inbound', '<hers@example.org>', 'ann@example.org', '[]', 'printer', 'x', '',
             '{"ab" * 32}'),
            (7, 'outbound', '<ours@healthsync.com>', 'support@', '[]', 'printer', 'x', '',
             NULL);
        INSERT INTO outbox (ticket_id, kind, message_id, mail_from, rcpt_to, status,
            next_attempt_at, created_at) VALUES
            (7, 'ack', '<old@h>', 's', 'ann@example.org', 'sent', 'x', '2020-01-01T00:00:00Z'),
            (7, 'ack', '<new@h>', 's', 'ann@example.org', 'sent', 'x', '{recent}');
        INSERT INTO events (ticket_id, at, type, detail) VALUES (7, 'x', 'created', '');
    """)
    conn.execute("INSERT INTO processed VALUES (?, 'spool-1', 'new_ticket', 'HS-000007', ?)",
                 (key_hash("<hers@example.org> body"), recent))
    conn.close()

    store = Store(data)
    [raw_id] = store.conn.execute("SELECT raw_id FROM messages WHERE direction = 'inbound'"
                                  ).fetchone()
    assert store.reads.raw_message(raw_id) == b"Hello"
    # Her message's row has no dedup hash (m016): its key is found in the processed table.
    assert store.received_before("<hers@example.org>", "<hers@example.org> body")
    assert not store.received_before("<hers@example.org>", "<hers@example.org> other body")
    assert not store.received_before("<someone-else@example.org>",
                                     "<someone-else@example.org> body")
    assert store.processed_outcome("spool-1") == ("new_ticket", "HS-000007")
    assert store.recent_autoreplies("ann@example.org", datetime.now(UTC)) == 1
    found = store.ticket_of_received_message("<hers@example.org>")
    assert found is not None and found.number == "HS-000007"
    assert found.participants == frozenset({"ann@example.org"})
    assert store.conn.execute("SELECT participants FROM tickets WHERE id = 7").fetchone()[0] \
        == '["ann@example.org"]'  # carried onto the row by m015
    assert store.ticket_of_received_message("<ours@healthsync.com>") is None  # HMAC's job
    # The ticket's history, through the timeline m017 built from the old rows.
    assert [m["message_id"] for m in store.reads.messages_of(7)] == [
        "<hers@example.org>", "<ours@healthsync.com>"]
    assert [e["type"] for e in store.reads.events_of(7)] == ["created"]
    with pytest.raises(sqlite3.IntegrityError), store.transaction() as write:
        write.execute("INSERT INTO processed (key_hash, spool_id, outcome, at)"
                      " VALUES (?, 'spool-2', 'new_ticket', 'now')",
                      (key_hash("<hers@example.org> body"),))


def test_a_tickets_history_is_read_through_the_timeline_and_kept_by_triggers(
        tmp_path: Path) -> None:
    store = Store(tmp_path / "data")
    with store.transaction() as conn:
        conn.execute("INSERT INTO tickets (id, number, status, priority, queue, requester,"
                     " subject, created_at, updated_at) VALUES (3, 'HS-000003', 'open',"
                     " 'medium', 'support', 'bo@example.org', 's', 'x', 'x')")
        for message_id in ("<one@example.org>", "<two@example.org>"):
            conn.execute("INSERT INTO messages (ticket_id, direction, message_id, from_addr,"
                         " to_addrs, subject, date, text) VALUES (3, 'inbound', ?,"
                         " 'bo@example.org', '[]', 's', 'x', '')", (message_id,))
        conn.execute("INSERT INTO events (ticket_id, at, type, detail) VALUES (3, 'x', 'a', '')")
    assert [m["message_id"] for m in store.reads.messages_of(3)] == [
        "<one@example.org>", "<two@example.org>"]
    assert [e["type"] for e in store.reads.events_of(3)] == ["a"]
    assert store.last_received_message_id(3) == "<two@example.org>"
    for sql in (MESSAGES_OF_TICKET, EVENTS_OF_TICKET, LAST_RECEIVED_MESSAGE_ID):
        plan = [row[3] for row in store.conn.execute("EXPLAIN QUERY PLAN " + sql, (3,))]
        assert plan[0] == "SEARCH t USING PRIMARY KEY (ticket_id=? AND kind=?)", plan
        assert "INTEGER PRIMARY KEY" in plan[1], plan
    indexes = {row[0] for row in store.conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert not indexes & {"messages_ticket", "events_ticket"}  # replaced by the timeline


def test_tickets_from_before_the_sla_clocks_get_theirs_from_their_history(
        tmp_path: Path) -> None:
    """m022: the tier from the directory, the clocks from the events; breaches that
    happened before the upgrade are counted (the report) but never alerted."""
    data = tmp_path / "data"
    data.mkdir()
    conn = connect(data / "maildaemon.sqlite3")
    migrations.apply(sqlite_utils.Database(conn), stop_before="m022_sla")
    tickets = [  # id, status, requester, first_response_due
        (1, "open", "Vip@Example.org", "2020-01-01T10:00:00Z"),  # answered, then waiting
        (2, "closed", "ann@example.org", "2020-01-01T10:00:00Z"),  # closed, never answered
        (3, "new", "bob@example.org", "2020-01-01T10:00:00Z"),  # overdue long ago
        (4, "new", "cy@example.org", "2999-01-01T10:00:00Z"),  # not due yet
    ]
    for ticket_id, status, requester, due in tickets:
        conn.execute("INSERT INTO tickets (id, number, status, priority, queue, requester,"
                     " subject, created_at, updated_at, first_response_due, status_since,"
                     " closed_at) VALUES (?, ?, ?, 'high', 'support', ?, 's', ?, ?, ?, ?, ?)",
                     (ticket_id, f"HS-00000{ticket_id}", status, requester,
                      "2020-01-01T09:00:00Z", "2020-01-02T09:00:00Z", due,
                      "2020-01-02T09:00:00Z",
                      "2020-01-03T09:00:00Z" if status == "closed" else None))
    conn.executemany("INSERT INTO events (ticket_id, at, type, detail) VALUES (?, ?, ?, ?)", [
        (1, "2020-01-01T09:30:00Z", "agent_reply", "by sam@healthsync.com"),
        (1, "2020-01-01T11:00:00Z", "agent_reply", "by sam@healthsync.com"),
        (1, "2020-01-01T12:00:00Z", "status", "open -> resolved by an agent"),
        (1, "2020-01-02T09:00:00Z", "status", "resolved -> open by customer reply"),
        (2, "2020-01-03T09:00:00Z", "status", "new -> closed by an agent")])
    conn.execute("INSERT INTO customers VALUES ('vip@example.org', 'premium', 'V', NULL, 'x')")
    conn.commit()
    conn.close()

    store = Store(data)
    rows = {r["id"]: dict(r) for r in store.conn.execute(
        "SELECT id, tier, resolution_due, first_response_at, resolved_at, response_breached,"
        " resolution_breached FROM tickets")}
    assert rows[1] == {"id": 1, "tier": "premium", "resolution_due": None,
                       "first_response_at": "2020-01-01T09:30:00Z",
                       "resolved_at": "2020-01-01T12:00:00Z", "response_breached": 0,
                       "resolution_breached": 0}
    assert (rows[2]["first_response_at"], rows[2]["resolved_at"]) == (
        "2020-01-03T09:00:00Z", "2020-01-03T09:00:00Z")
    assert (rows[3]["tier"], rows[3]["first_response_at"], rows[3]["response_breached"]) \
        == ("free", None, 1)
    assert rows[4]["response_breached"] == 0
    now = datetime.now(UTC)
    assert store.sla_overdue("first_response", now, 10) == []  # nothing alerted for history
    assert store.sla_overdue("resolution", now, 10) == []
    assert store.sla_overdue("first_response", datetime(3000, 1, 1, tzinfo=UTC), 10) == [4]
