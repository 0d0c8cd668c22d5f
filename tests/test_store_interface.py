"""The storage behaviour the daemon relies on, written against `TicketStore` only.

The fixture yields each backend; today the SQLite `Store`. A PostgreSQL one is added to
BACKENDS and these tests run on it unchanged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from maildaemon.domain import (
    AttachmentUsage,
    Decision,
    Event,
    InboundMail,
    NewTicket,
    Outcome,
    OutgoingMail,
    Priority,
    Status,
)
from maildaemon.store import Attempt, Rendered, Store, TicketStore, iso

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
BACKENDS = ["sqlite"]


@pytest.fixture(params=BACKENDS)
def ticket_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TicketStore]:
    store = Store(tmp_path / "data")
    yield store
    store.close()


def mail(message_id: str | None = "<first@example.org>", body: str = "My pump stopped.",
         in_reply_to: tuple[str, ...] = ()) -> InboundMail:
    return InboundMail(
        message_id=message_id, dedup_key=f"{message_id}|{body}", from_addr="ann@example.org",
        from_name="Ann", to=("support@healthsync.com",), cc=(), subject="Pump stopped",
        date=NOW, in_reply_to=in_reply_to, references=(), loop_headers={},
        content_type="text/plain", text=body, envelope_sender="ann@example.org",
        envelope_rcpts=("support@healthsync.com",),
        raw_sha256=hashlib.sha256(body.encode()).hexdigest(),
        size=len(body), own_text=body)


def opening(inbound: InboundMail) -> Decision:
    return Decision(
        outcome=Outcome.NEW_TICKET,
        new_ticket=NewTicket(queue="support", priority=Priority.MEDIUM,
                             subject=inbound.subject, requester=inbound.from_addr,
                             participants=(inbound.from_addr,), related=(),
                             first_response_due=NOW + timedelta(hours=8)),
        events=(Event("created", "by mail"),))


def reply(number: str, kind: str = "acknowledgement", to: str = "ann@example.org",
          message_id: str = "<HS-reply@healthsync.com>") -> OutgoingMail:
    return OutgoingMail(kind=kind, message_id=message_id, mail_from="support@healthsync.com",
                        rcpt_to=to, subject=f"[{number}] Pump stopped", text="We have it.",
                        raw=b"Subject: ack\r\n\r\nWe have it.\r\n")


def open_ticket(store: TicketStore, inbound: InboundMail, spool_id: str = "s1",
                mail_out: bool = False) -> str:
    decision = opening(inbound)
    with store.transaction():
        number = store.number_for(decision)
        assert number is not None
        rendered = Rendered(number, (reply(number),) if mail_out else ())
        assert store.apply(decision, inbound, b"raw bytes", spool_id, NOW, rendered) == number
    return number


def test_a_new_ticket_is_found_by_its_number_and_its_message(ticket_store: TicketStore) -> None:
    inbound = mail()
    number = open_ticket(ticket_store, inbound)
    ref = ticket_store.ticket_ref(number)
    assert ref is not None and ref.status == Status.NEW and ref.requester == "ann@example.org"
    assert ref.participants == frozenset({"ann@example.org"})
    assert ticket_store.ticket_of_received_message("<first@example.org>") == ref
    assert ticket_store.ticket_of_received_message("<other@example.org>") is None
    assert ticket_store.ticket_ref("HS-000000" if number != "HS-000000" else "HS-000001") \
        is None
    record = ticket_store.ticket(number.lower())
    assert record is not None and record.number == number and record.status == "new"
    assert ticket_store.attachment_usage(number) == AttachmentUsage(0, 0, frozenset())


def test_a_message_is_processed_once(ticket_store: TicketStore) -> None:
    inbound = mail()
    assert not ticket_store.received_before(inbound.message_id, inbound.dedup_key)
    number = open_ticket(ticket_store, inbound, spool_id="s1")
    assert ticket_store.spool_processed("s1") and not ticket_store.spool_processed("s2")
    assert ticket_store.processed_outcome("s1") == ("new_ticket", number)
    assert ticket_store.received_before(inbound.message_id, inbound.dedup_key)
    changed = mail(body="Another text under the same Message-ID.")
    assert not ticket_store.received_before(changed.message_id, changed.dedup_key)
    no_id = mail(message_id=None)
    open_ticket(ticket_store, no_id, spool_id="s3")
    assert ticket_store.received_before(None, no_id.dedup_key)
    with ticket_store.transaction():
        duplicate = Decision(outcome=Outcome.DUPLICATE)
        assert ticket_store.number_for(duplicate) is None
        assert ticket_store.apply(duplicate, no_id, b"", "s4", NOW, Rendered(None)) is None
    assert ticket_store.processed_outcome("s4") == ("duplicate", None)


def test_rendered_mail_is_queued_leased_and_recorded(ticket_store: TicketStore) -> None:
    open_ticket(ticket_store, mail(), mail_out=True)
    assert ticket_store.recent_autoreplies("ann@example.org", NOW) == 1
    assert ticket_store.recent_autoreplies("ann@example.org", NOW + timedelta(hours=2)) == 0
    assert ticket_store.next_due() == iso(NOW)
    until = iso(NOW + timedelta(minutes=5))
    [row] = ticket_store.lease(iso(NOW), False, 0, 10, until, "here:1")
    assert row.rcpt_to == "ann@example.org" and row.raw.endswith(b"We have it.\r\n")
    assert ticket_store.lease(iso(NOW), False, 0, 10, until, "there:2") == []  # leased
    assert ticket_store.leases() == [(row.id, "here:1")]
    ticket_store.record([Attempt(row.id, "sent", 1, "", None)], iso(NOW))
    assert ticket_store.next_due() is None and ticket_store.leases() == []


def test_a_released_lease_can_be_taken_again(ticket_store: TicketStore) -> None:
    open_ticket(ticket_store, mail(), mail_out=True)
    until = iso(NOW + timedelta(minutes=5))
    [row] = ticket_store.lease(iso(NOW), False, 0, 10, until, "gone:1")
    ticket_store.release([row.id])
    assert [r.id for r in ticket_store.lease(iso(NOW), False, 0, 10, until, "me:2")] == [row.id]


def test_timers_come_due_and_a_close_is_kept(ticket_store: TicketStore) -> None:
    number = open_ticket(ticket_store, mail())
    record = ticket_store.ticket(number)
    assert record is not None
    with ticket_store.transaction():
        ticket_store.set_due(record.id, iso(NOW + timedelta(days=1)))
    assert ticket_store.due_tickets(NOW, 10) == []
    assert ticket_store.due_tickets(NOW + timedelta(days=2), 10) == [record.id]
    with ticket_store.transaction():
        ticket_store.mark_reminded(record.id, waiting_on_customer=True)
        ticket_store.add_event(record.id, iso(NOW), "mark_waiting", "by the test")
    marked = ticket_store.ticket_by_id(record.id)
    assert marked is not None and marked.reminded and marked.waiting_on_customer
    with ticket_store.transaction():
        ticket_store.set_status(record.id, Status.CLOSED, iso(NOW), None)
        ticket_store.assign(record.id, "bob@healthsync.com")
    closed = ticket_store.ticket_ref(number)
    assert closed is not None and closed.status == Status.CLOSED and closed.closed_at == NOW
    after = ticket_store.ticket_by_id(record.id)
    assert after is not None and not after.reminded and after.assignee == "bob@healthsync.com"
    assert ticket_store.due_tickets(NOW + timedelta(days=2), 10) == []


def test_a_survey_is_recognised_and_the_rate_limit_forgets(ticket_store: TicketStore) -> None:
    number = open_ticket(ticket_store, mail())
    record = ticket_store.ticket(number)
    assert record is not None
    with ticket_store.transaction():
        ticket_store.enqueue(record.id, reply(number, "survey", message_id="<s@h.com>"),
                             iso(NOW))
    assert ticket_store.is_survey(("<x@y>", "<s@h.com>"))
    assert not ticket_store.is_survey(("<x@y>",)) and not ticket_store.is_survey(())
    assert ticket_store.last_received_message_id(record.id) == "<first@example.org>"
    assert ticket_store.participants_of(record.id) == ["ann@example.org"]
    assert ticket_store.forget_old_replies(NOW) == 0
    assert ticket_store.forget_old_replies(NOW + timedelta(hours=1)) == 1
    assert ticket_store.recent_autoreplies("ann@example.org", NOW) == 0
