"""The storage behaviour the daemon relies on, written against `TicketStore` only.

The `ticket_store` fixture (conftest.py) yields each backend; today the SQLite `Store`. A
PostgreSQL one is added to BACKENDS there and these tests run on it unchanged.
"""

from __future__ import annotations

from datetime import timedelta

from maildaemon.domain import AttachmentUsage, Decision, Outcome, Status
from maildaemon.store import Attempt, Rendered, TicketStore, iso
from tests.backends import NOW, mail, open_ticket, reply


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
    # Out of the hourly limit's count after an hour, kept a day for the daily limit.
    assert ticket_store.forget_old_replies(NOW + timedelta(hours=1)) == 0
    assert ticket_store.reply_counts("ann@example.org", NOW + timedelta(hours=1)) == (0, 1)
    assert ticket_store.forget_old_replies(NOW + timedelta(days=1)) == 1
    assert ticket_store.recent_autoreplies("ann@example.org", NOW) == 0
    assert ticket_store.reply_counts("ann@example.org", NOW) == (0, 0)
