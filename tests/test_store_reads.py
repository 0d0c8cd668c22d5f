"""What the read-only commands show, written against `TicketReads` only: the listing
(`tickets`), one ticket (`show`), the outbox (`outbox ls`), the automatic mail, ratings
and the kept bytes. The fixtures (conftest.py) yield each backend; `ticket_reads` comes
from `open_reads`, the factory the commands use, and sees what `ticket_store` committed."""

from __future__ import annotations

import ast
import hashlib
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from maildaemon.domain import Attachment, AttachmentVerdict, Decision, Outcome, Status
from maildaemon.store import Attempt, Rendered, TicketReads, TicketStore, iso
from maildaemon.views import ticket_json, ticket_text
from tests.backends import NOW, mail, open_ticket, opening

SHOW_KEYS = ["number", "status", "priority", "queue", "requester", "participants", "subject",
             "created_at", "updated_at", "escalated", "waiting_on_customer", "related",
             "first_response_due", "assignee", "rating", "tier", "resolution_due",
             "first_response_at", "resolved_at", "unverified", "purged_at", "delivery_failed",
             "undeliverable", "messages", "events", "bug_report"]


def test_the_listing_filters_and_keeps_the_order_of_creation(
        ticket_store: TicketStore, ticket_reads: TicketReads) -> None:
    assert list(ticket_reads.ticket_rows()) == []
    first = open_ticket(ticket_store, mail("<a@example.org>"), "s1")
    second = open_ticket(ticket_store, mail("<b@example.org>", from_addr="bob@example.org"),
                         "s2", queue="tech")
    assert [r["number"] for r in ticket_reads.ticket_rows()] == [first, second]
    assert [r["number"] for r in ticket_reads.ticket_rows(queue="tech")] == [second]
    record = ticket_store.ticket(first)
    assert record is not None
    with ticket_store.transaction():
        ticket_store.set_status(record.id, Status.CLOSED, iso(NOW), None)
    assert [r["number"] for r in ticket_reads.ticket_rows(status="closed")] == [first]
    assert [r["number"] for r in ticket_reads.ticket_rows(status="new")] == [second]
    assert list(ticket_reads.ticket_rows(status="new", queue="support")) == []
    listed = [ticket_json(ticket_reads, r, full=False) for r in ticket_reads.ticket_rows()]
    assert [t["requester"] for t in listed] == ["ann@example.org", "bob@example.org"]
    assert list(listed[0]) == SHOW_KEYS[:-3] and listed[0]["status"] == "closed"


def test_a_ticket_is_shown_with_its_messages_events_and_files(
        ticket_store: TicketStore, ticket_reads: TicketReads) -> None:
    data = b"%PDF-1.4 the customer's invoice"
    file = Attachment(filename="invoice.pdf", declared_type="application/pdf",
                      detected_type="application/pdf", size=len(data),
                      sha256=hashlib.sha256(data).hexdigest(), data=data)
    exe = Attachment(filename="run.exe", declared_type="application/octet-stream",
                     detected_type="application/x-dosexec", size=3, sha256="0" * 64)
    decision = replace(opening(mail()), attachments=(
        AttachmentVerdict(file, True, "accepted", ""),
        AttachmentVerdict(exe, False, "blocked_type", "run.exe: programs are not accepted")))
    with ticket_store.transaction():
        number = ticket_store.number_for(decision)
        assert number is not None
        ticket_store.apply(decision, mail(), b"the bytes received", "s1", NOW,
                           Rendered(number))
    assert ticket_reads.ticket_row("HS-000000" if number != "HS-000000" else "HS-000001") \
        is None
    row = ticket_reads.ticket_row(number.lower())
    assert row is not None and row["number"] == number
    assert ticket_reads.participants_of(row["id"]) == ["ann@example.org"]
    assert ticket_reads.related_of(row["id"]) == []
    [message] = ticket_reads.messages_of(row["id"])
    assert message["direction"] == "inbound" and message["message_id"] == "<first@example.org>"
    assert ticket_reads.raw_message(message["raw_id"]) == b"the bytes received"
    assert [e["type"] for e in ticket_reads.events_of(row["id"])] == ["created"]
    [kept] = ticket_reads.attachments_of(row["id"])
    assert kept["filename"] == "invoice.pdf" and kept["message_row"] == message["id"]
    assert ticket_reads.attachment_bytes(kept["sha256"]) == data
    assert ticket_reads.attachment_bytes("f" * 64) is None
    [refused] = ticket_reads.rejected_of(row["id"])
    assert refused["filename"] == "run.exe"

    shown = ticket_json(ticket_reads, row)
    assert list(shown) == SHOW_KEYS and shown["status"] == "new"
    [out] = shown["messages"]
    assert out["from"] == "ann@example.org" and out["to"] == ["support@healthsync.com"]
    assert [f["filename"] for f in out["attachments"]] == ["invoice.pdf"]
    assert out["rejected_attachments"][0]["reason"] == "programs are not accepted"
    assert shown["events"] == [{"at": iso(NOW), "type": "created", "detail": "by mail"}]
    assert f"{number}  Pump stopped" in ticket_text(shown)


def test_the_outbox_lists_what_is_not_sent_and_everything_on_request(
        ticket_store: TicketStore, ticket_reads: TicketReads) -> None:
    assert ticket_reads.outbox_rows(False) == [] and ticket_reads.outbox_rows(True) == []
    number = open_ticket(ticket_store, mail(), mail_out=True)
    [pending] = ticket_reads.outbox_rows(False)
    assert (pending["number"], pending["kind"], pending["rcpt_to"], pending["status"],
            pending["attempts"]) == (number, "acknowledgement", "ann@example.org",
                                     "pending", 0)
    [leased] = ticket_store.lease(iso(NOW), False, 0, 10, iso(NOW + timedelta(minutes=5)),
                                  "here:1")
    ticket_store.record([Attempt(leased.id, "sent", 1, "", None)], iso(NOW))
    assert ticket_reads.outbox_rows(False) == []
    [sent] = ticket_reads.outbox_rows(True)
    assert sent["id"] == pending["id"] and sent["status"] == "sent"


def test_automatic_mail_outcomes_and_ratings_are_read_back(
        ticket_store: TicketStore, ticket_reads: TicketReads) -> None:
    assert list(ticket_reads.automatic_rows()) == [] and ticket_reads.ratings() == []
    away = mail("<away@example.org>", body="Out of office.", subject="Away")
    with ticket_store.transaction():
        ticket_store.apply(Decision(outcome=Outcome.AUTOMATIC,
                                    automated_reason="auto_submitted"),
                           away, b"away bytes", "s1", NOW, Rendered(None))
    [auto] = ticket_reads.automatic_rows()
    assert (auto["reason"], auto["subject"]) == ("auto_submitted", "Away")
    assert dict(auto)["from_addr"] == "ann@example.org"  # what `automatic --json` prints
    assert ticket_reads.raw_message(auto["raw_id"]) == b"away bytes"
    assert ticket_reads.processed_outcome("s1") == ("automatic", None)
    assert ticket_reads.processed_outcome("s9") is None

    number = open_ticket(ticket_store, mail(), "s2")
    ref = ticket_store.ticket_ref(number)
    record = ticket_store.ticket(number)
    assert ref is not None and record is not None
    rated = Decision(outcome=Outcome.FOLLOWUP, ticket=ref, rating=(2, "slow"))
    with ticket_store.transaction():
        ticket_store.apply(rated, mail("<rating@example.org>", body="2"), b"2", "s3", NOW,
                           Rendered(number))
        ticket_store.assign(record.id, "bob@healthsync.com")
    assert ticket_reads.processed_outcome("s3") == ("followup", number)
    assert ticket_reads.ratings() == [
        {"queue": "support", "agent": "bob@healthsync.com", "n": 1, "mean": 2.0, "low": 1}]


def test_the_read_commands_know_the_interface_not_the_sqlite_class() -> None:
    """cli.py, views.py and agent.py get their reads from `open_reads`, typed `TicketReads`:
    nothing outside the store package imports the SQLite `Reads` or its module."""
    package = Path(__file__).resolve().parent.parent / "maildaemon"
    found = []
    for path in sorted(package.rglob("*.py")):
        if package / "store" in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (
                    node.module == "maildaemon.store.reads"
                    or any(alias.name == "Reads" for alias in node.names)):
                found.append(f"{path.relative_to(package)}:{node.lineno}")
    assert not found, found
    views = ast.parse((package / "views.py").read_text())
    assert {alias.name for node in ast.walk(views) if isinstance(node, ast.ImportFrom)
            and node.module == "maildaemon.store" for alias in node.names} == {
        "Row", "TicketReads"}
