"""Bug reports through the real worker on real SQLite files: the fields stored (m021), shown
by `show` (text and JSON), asked for in the acknowledgement, filled by a follow-up."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default
from pathlib import Path

import pytest

from maildaemon.config import Config, config_from_dict
from maildaemon.spool import Incoming
from maildaemon.store import open_reads
from maildaemon.views import ticket_json, ticket_text
from maildaemon.workproc import Parts, worker_parts
from tests.conftest import SettableClock

SENDER = "dev@clinic.example"


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return config_from_dict({"storage": {"data_dir": str(tmp_path / "data")},
                             "outbound": {"maildir": str(tmp_path / "out")}})


@pytest.fixture
def parts(config: Config) -> Iterator[Parts]:
    made = worker_parts(config, SettableClock(datetime(2026, 12, 1, 9, tzinfo=UTC)))
    yield made
    made.checkpointer.stop()


def deliver(parts: Parts, subject: str, body: str, message_id: str,
            rcpt: str = "support@healthsync.com") -> str:
    raw = (f"From: Dev <{SENDER}>\r\nTo: {rcpt}\r\nSubject: {subject}\r\n"
           f"Message-ID: <{message_id}@clinic.example>\r\n\r\n"
           + body.replace("\n", "\r\n")).encode()
    parts.spool.put_many([Incoming(SENDER, (rcpt,), raw, "t")])
    [done] = parts.worker.process_batch()
    assert done.ticket, done
    return done.ticket


def shown(config: Config, number: str) -> dict[str, object]:
    reads = open_reads(config)
    row = reads.ticket_row(number)
    assert row is not None
    return ticket_json(reads, row)


def ack_text(parts: Parts, number: str) -> str:
    store = parts.worker.store
    rows = store.conn.execute(  # type: ignore[attr-defined]
        "SELECT r.raw FROM outbox o JOIN outbox_raw r ON r.outbox_id = o.id"
        " JOIN tickets t ON t.id = o.ticket_id"
        " WHERE t.number = ? AND o.kind = 'ack'", (number,)).fetchall()
    [raw] = [bytes(r[0]) for r in rows]
    mail = message_from_bytes(raw, policy=default)
    return "\n".join(part.get_content() for part in mail.walk()  # type: ignore[attr-defined]
                     if part.get_content_maintype() == "text")


REPORT = """Uploading a PDF does nothing.

Steps to reproduce:
1. Go to Documents
2. Click Upload

Browser: Chrome 120
OS: Windows 11
"""


def test_a_bug_report_is_stored_shown_and_asked_for_what_it_lacks(
        parts: Parts, config: Config) -> None:
    number = deliver(parts, "[Bug] Upload does nothing", REPORT, "b1")
    data = shown(config, number)
    assert data["queue"] == "bugs"
    assert data["bug_report"] == {"steps": "1. Go to Documents\n2. Click Upload",
                                  "browser": "Chrome 120", "device": None,
                                  "os": "Windows 11", "app_version": None,
                                  "missing": ["app_version"]}
    text = ticket_text(data)
    assert "  bug report: browser Chrome 120; os Windows 11; missing app version" in text
    assert "  steps to reproduce:\n    1. Go to Documents\n    2. Click Upload" in text
    events = [(e["type"], e["detail"]) for e in data["events"]]  # type: ignore[union-attr]
    assert ("bug_route", "[Bug] subject to the support queue: created in the bugs queue "
                         "instead") in events
    assert ("bug_report", "found steps (2 lines), browser Chrome 120, OS Windows 11; "
                          "missing app version") in events

    ack = ack_text(parts, number)
    assert "please reply with what your report is missing" in ack
    assert "App version, for example: App version: 3.2.0" in ack
    assert "Steps to reproduce, for example" not in ack
    assert "Browser or device" not in ack


def test_a_follow_up_fills_what_was_missing_and_keeps_what_was_given(
        parts: Parts, config: Config) -> None:
    number = deliver(parts, "[Bug] Upload does nothing", REPORT, "b2")
    reply = "App version: 3.2.0\nBrowser: Firefox 121\n\nOn Tue, Bugs wrote:\n> App version"
    assert deliver(parts, f"Re: [{number}] [Bug] Upload does nothing", reply, "b3",
                   "bugs@healthsync.com") == number
    data = shown(config, number)
    report = data["bug_report"]
    assert isinstance(report, dict)
    assert (report["app_version"], report["browser"], report["missing"]) == \
        ("3.2.0", "Chrome 120", [])
    events = [(e["type"], e["detail"]) for e in data["events"]]  # type: ignore[union-attr]
    assert ("bug_report_updated", "app_version 3.2.0") in events


def test_a_ticket_that_is_no_bug_report_has_none(parts: Parts, config: Config) -> None:
    number = deliver(parts, "Invoice twice", "Browser: Chrome 120", "n1",
                     "billing@healthsync.com")
    data = shown(config, number)
    assert data["bug_report"] is None and "bug report" not in ticket_text(data)
    assert "please reply with what your report is missing" not in ack_text(parts, number)


def test_a_complete_report_is_not_asked_for_anything(parts: Parts) -> None:
    number = deliver(parts, "[Bug] Upload", REPORT + "App version: 3.2.0\n", "c1")
    assert "what your report is missing" not in ack_text(parts, number)
