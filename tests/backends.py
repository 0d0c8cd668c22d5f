"""Helpers for the storage behaviour tests, which see a backend only through the
interfaces (`TicketStore`, `TicketReads`); the fixtures that yield each backend are in
conftest.py (`storage`, `ticket_store`, `ticket_reads`)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from maildaemon.domain import (
    Decision,
    Event,
    InboundMail,
    NewTicket,
    Outcome,
    OutgoingMail,
    Priority,
)
from maildaemon.store import Rendered, TicketStore

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def mail(message_id: str | None = "<first@example.org>", body: str = "My pump stopped.",
         in_reply_to: tuple[str, ...] = (), from_addr: str = "ann@example.org",
         subject: str = "Pump stopped") -> InboundMail:
    return InboundMail(
        message_id=message_id, dedup_key=f"{message_id}|{body}", from_addr=from_addr,
        from_name="Ann", to=("support@healthsync.com",), cc=(), subject=subject,
        date=NOW, in_reply_to=in_reply_to, references=(), loop_headers={},
        content_type="text/plain", text=body, envelope_sender=from_addr,
        envelope_rcpts=("support@healthsync.com",),
        raw_sha256=hashlib.sha256(body.encode()).hexdigest(),
        size=len(body), own_text=body)


def opening(inbound: InboundMail, queue: str = "support") -> Decision:
    return Decision(
        outcome=Outcome.NEW_TICKET,
        new_ticket=NewTicket(queue=queue, priority=Priority.MEDIUM,
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
                mail_out: bool = False, queue: str = "support",
                raw: bytes = b"raw bytes") -> str:
    decision = opening(inbound, queue)
    with store.transaction():
        number = store.number_for(decision)
        assert number is not None
        rendered = Rendered(number, (reply(number),) if mail_out else ())
        assert store.apply(decision, inbound, raw, spool_id, NOW, rendered) == number
    return number
