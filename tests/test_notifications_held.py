"""A held message is told to ops: through the real worker, spool and SQLite files.

What makes the message fail is real too: a trigger in the ticket database refuses its row
(as a corrupt index or a bug in our own writes would), so the worker's attempts run out.
"""

from __future__ import annotations

import email
import email.policy
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from maildaemon.config import config_from_dict
from maildaemon.held_alert import one_line, subject_of
from maildaemon.spool import Incoming
from maildaemon.workproc import Parts, worker_parts

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
POISON = ("CREATE TRIGGER poison BEFORE INSERT ON messages WHEN NEW.subject LIKE '%poison%'"
          " BEGIN SELECT RAISE(ABORT, 'refused by the poison trigger'); END")


def make_parts(tmp_path: Path, teams: dict[str, list[str]]) -> Parts:
    return worker_parts(config_from_dict({
        "mail": {"domain": "healthsync.com"},
        "storage": {"data_dir": str(tmp_path / "data")},
        "outbound": {"maildir": str(tmp_path / "out")},
        "spool": {"max_attempts": 2},
        "teams": teams,
    }), lambda: NOW)


def poisoned(subject: str) -> bytes:
    return (f"From: Ann <ann@example.org>\r\nTo: support@healthsync.com\r\n"
            f"Subject: {subject}\r\nMessage-ID: <p1@example.org>\r\n"
            "Date: Sat, 28 Nov 2026 08:59:00 +0000\r\n\r\n"
            "My date of birth is 1970-01-01 and my card 4111 1111 1111 1111.\r\n").encode()


def run_until_held(parts: Parts, raw: bytes) -> list[str]:
    parts.spool.put_many([Incoming("ann@example.org", ("support@healthsync.com",), raw, "t")])
    outcomes = []
    for _ in range(5):  # max_attempts = 2
        outcomes += [done.outcome for done in parts.worker.process_batch(1)]
        if "held" in outcomes:
            break
    return outcomes


def alerts(parts: Parts) -> list[tuple[str, Any, email.message.EmailMessage]]:
    rows = parts.worker.store.conn.execute(  # type: ignore[attr-defined]
        "SELECT o.rcpt_to, o.ticket_id, r.raw FROM outbox o JOIN outbox_raw r"
        " ON r.outbox_id = o.id WHERE o.kind = 'held_alert' ORDER BY o.id").fetchall()
    return [(to, ticket, email.message_from_bytes(bytes(raw), policy=email.policy.default))
            for to, ticket, raw in rows]


def test_a_held_message_is_told_to_the_ops_team(tmp_path: Path) -> None:
    parts = make_parts(tmp_path, {"ops": ["ops@healthsync.com", "oncall@healthsync.com"],
                                  "default": ["dora@healthsync.com"]})
    try:
        with sqlite3.connect(tmp_path / "data" / "maildaemon.sqlite3") as db:
            db.execute(POISON)
        assert run_until_held(parts, poisoned("poison: my pump")) == ["pending", "held"]
        [row] = parts.spool.rows()
        found = alerts(parts)
        assert [(to, ticket) for to, ticket, _ in found] == [
            ("ops@healthsync.com", None), ("oncall@healthsync.com", None)]
        note = found[0][2]
        assert note["Subject"] == f"[maildaemon] Held message {row.spool_id}"
        assert note["Auto-Submitted"] == "auto-generated"
        assert note["X-Auto-Response-Suppress"] == "All"
        body = note.get_body(("plain",))
        assert body is not None
        text = str(body.get_content()).replace("\r\n", "\n")
        assert "Error:           IntegrityError: refused by the poison trigger" in text
        assert "Envelope sender: ann@example.org" in text
        assert "Subject:         poison: my pump" in text
        assert f"maildaemon spool retry {row.spool_id}" in text
        assert "4111" not in note.as_string() and "1970" not in note.as_string()
    finally:
        parts.checkpointer.stop()


def test_without_an_ops_team_the_default_team_is_told(tmp_path: Path) -> None:
    parts = make_parts(tmp_path, {"default": ["dora@healthsync.com"]})
    try:
        with sqlite3.connect(tmp_path / "data" / "maildaemon.sqlite3") as db:
            db.execute(POISON)
        assert run_until_held(parts, poisoned("poison")) == ["pending", "held"]
        assert [to for to, _, _ in alerts(parts)] == ["dora@healthsync.com"]
    finally:
        parts.checkpointer.stop()


def test_a_failure_that_is_retried_is_not_an_alert(tmp_path: Path) -> None:
    parts = make_parts(tmp_path, {"ops": ["ops@healthsync.com"]})
    try:
        with sqlite3.connect(tmp_path / "data" / "maildaemon.sqlite3") as db:
            db.execute(POISON)
        parts.spool.put_many([Incoming("ann@example.org", ("support@healthsync.com",),
                                       poisoned("poison"), "t")])
        assert [d.outcome for d in parts.worker.process_batch(1)] == ["pending"]
        assert alerts(parts) == []
    finally:
        parts.checkpointer.stop()


def test_the_subject_shown_is_one_bounded_line_whatever_the_message() -> None:
    assert subject_of(b"Subject: =?utf-8?q?caf=C3=A9?=\r\n\r\nx") == "café"
    assert subject_of(b"Subject: " + b"a" * 5000 + b"\r\n\r\n") == "a" * 199 + "…"
    assert subject_of(b"\xff\xfe garbage without headers") == ""
    assert one_line("two\r\nlines\x00 and\ttabs") == "two lines and tabs"
