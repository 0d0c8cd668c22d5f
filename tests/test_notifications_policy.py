"""Which decisions tell a ticket's team (Decision.notify), decided by the pure core."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from maildaemon.domain import Outcome, ReferenceHit, Status
from maildaemon.policy.decide import decide
from tests.test_policy import NOW, SETTINGS, ctx, inbound, ticket

TEAMED = replace(SETTINGS, teams={"default": ("dora@healthsync.com",)})


def test_a_new_ticket_is_news() -> None:
    decision = decide(inbound(), ctx(), TEAMED, NOW)
    assert decision.outcome == Outcome.NEW_TICKET and decision.notify == ("new_ticket",)


@pytest.mark.parametrize("status,kind", [
    (Status.NEW, "customer_reply"), (Status.OPEN, "customer_reply"),
    (Status.WAITING, "customer_reply"), (Status.ON_HOLD, "customer_reply"),
    (Status.RESOLVED, "reopened"),
])
def test_a_participants_reply_is_news(status: Status, kind: str) -> None:
    decision = decide(inbound(), ctx(subject_tickets=(ticket(status),)), TEAMED, NOW)
    assert decision.outcome == Outcome.FOLLOWUP and decision.notify == (kind,)


def test_a_reply_reopening_a_closed_ticket_is_news() -> None:
    closed = ticket(Status.CLOSED, closed_at=NOW - timedelta(days=1))
    decision = decide(inbound(), ctx(subject_tickets=(closed,)), TEAMED, NOW)
    assert decision.new_status == Status.OPEN and decision.notify == ("reopened",)


def test_automatic_mail_duplicates_and_staff_answers_are_not() -> None:
    bounce = inbound(from_addr="mailer-daemon@x.org", envelope_sender="")
    hit = ReferenceHit(ticket(), "our_message_id", "<x>")
    on_ticket = decide(bounce, ctx(header_hit=hit), TEAMED, NOW)
    assert on_ticket.outcome == Outcome.AUTOMATIC_ON_TICKET and on_ticket.notify == ()
    away = inbound(loop_headers={"auto-submitted": "auto-replied"})
    off = decide(away, ctx(), TEAMED, NOW)
    assert off.outcome == Outcome.AUTOMATIC and off.notify == ()
    again = decide(inbound(), ctx(already_processed=True), TEAMED, NOW)
    assert again.outcome == Outcome.DUPLICATE and again.notify == ()
    staff = inbound(from_addr="agent@healthsync.com", envelope_sender="agent@healthsync.com",
                    dmarc_pass_domain="healthsync.com")
    answer = decide(staff, ctx(subject_tickets=(ticket(),)), TEAMED, NOW)
    assert answer.outcome == Outcome.FOLLOWUP and answer.notify == ()


def test_without_a_team_nobody_is_to_be_told() -> None:
    billing_only = replace(SETTINGS, teams={"billing": ("ben@healthsync.com",)})
    assert decide(inbound(), ctx(), billing_only, NOW).notify == ()  # a support ticket
    billed = decide(inbound(to=("billing@healthsync.com",)), ctx(), billing_only, NOW)
    assert billed.notify == ("new_ticket",)
    reply = decide(inbound(), ctx(subject_tickets=(ticket(),)), SETTINGS, NOW)
    assert reply.outcome == Outcome.FOLLOWUP and reply.notify == ()
