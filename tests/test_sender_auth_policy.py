"""Issue 13, point 5, in decide()'s table: a mail our MTA does not vouch for joins, reopens,
escalates, confirms and rates nothing; it opens a new ticket marked unverified, linked to
the one it named. Each row is a mail that WOULD act on the requester's ticket, decided
twice: verified (it acts, so the row can fail) and unverified (it opens a linked ticket).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from maildaemon.domain import (
    AuthResult,
    Decision,
    DmarcTrust,
    InboundMail,
    Outcome,
    ReferenceHit,
    Status,
    TicketRef,
)
from maildaemon.policy.decide import decide
from tests.test_escalation_policy import SETTINGS as ESCALATION_SETTINGS
from tests.test_policy import NOW, ctx, inbound

OUR_MTA = "mx.healthsync.com"
SETTINGS = replace(ESCALATION_SETTINGS, dmarc_trust=DmarcTrust(OUR_MTA))
PASS = (AuthResult("dmarc", "pass", "example.org"),)
FAIL = (AuthResult("dmarc", "fail", "example.org"), AuthResult("spf", "fail", "example.org"))
NUMBER = "HS-111111"


def ticket(status: Status = Status.OPEN, **fields: Any) -> TicketRef:
    return TicketRef(NUMBER, status, "billing", "alice@example.org", "Invoice",
                     frozenset({"alice@example.org", "bob@example.org"}), **fields)


def by_header(t: TicketRef) -> dict[str, Any]:
    return {"header_hit": ReferenceHit(t, "our_message_id", f"<{NUMBER}.x@healthsync.com>")}


def by_subject(t: TicketRef) -> dict[str, Any]:
    return {"subject_tickets": (t,)}


# name, the mail's fields, its context, what the verified mail does (outcome, status after)
ROWS: list[tuple[str, dict[str, Any], dict[str, Any], Outcome, Status | None]] = [
    ("reply by header", {"own_text": "The invoice is still wrong."},
     by_header(ticket()), Outcome.FOLLOWUP, None),
    ("reply by subject token", {"subject": f"Re: [{NUMBER}] Invoice",
                                "own_text": "Here is the screenshot."},
     by_subject(ticket()), Outcome.FOLLOWUP, None),
    ("reply reopening a waiting ticket", {"own_text": "Here is the log you asked for."},
     by_header(ticket(Status.WAITING)), Outcome.FOLLOWUP, Status.OPEN),
    ("reopen a closed ticket", {"own_text": "It is broken again."},
     by_header(ticket(Status.CLOSED, closed_at=NOW - timedelta(days=1))),
     Outcome.FOLLOWUP, Status.OPEN),
    ("confirm a solution", {"own_text": "Yes, that fixed it, thanks!"},
     by_header(ticket(Status.RESOLVED)), Outcome.FOLLOWUP, Status.CLOSED),
    ("rate a survey", {"own_text": "5 - very quick, thank you"},
     {**by_header(ticket(Status.CLOSED, closed_at=NOW - timedelta(hours=1))),
      "replied_to_survey": True}, Outcome.FOLLOWUP, None),
    ("escalate by phrase", {"own_text": "Please escalate this ticket, we are blocked."},
     by_header(ticket()), Outcome.FOLLOWUP, None),
    ("escalate by address", {"to": ("escalation@healthsync.com",),
                             "envelope_rcpts": ("escalation@healthsync.com",),
                             "subject": f"Escalation {NUMBER}",
                             "own_text": f"Nobody answers {NUMBER}."},
     {"escalation_named": (NUMBER, ticket())}, Outcome.FOLLOWUP, None),
]


def decided(results: tuple[AuthResult, ...] | None, fields: dict[str, Any],
            context: dict[str, Any]) -> Decision:
    mail: InboundMail = inbound(auth_results=results, **fields)
    return decide(mail, ctx(**context), SETTINGS, NOW)


@pytest.mark.parametrize("name, fields, context, outcome, status", ROWS,
                         ids=[row[0] for row in ROWS])
def test_a_verified_mail_acts_on_the_ticket(name: str, fields: dict[str, Any],
                                            context: dict[str, Any], outcome: Outcome,
                                            status: Status | None) -> None:
    decision = decided(PASS, fields, context)
    assert decision.outcome == outcome and decision.ticket is not None
    assert decision.ticket.number == NUMBER
    assert decision.new_status == status
    assert decision.new_ticket is None
    sender = next(line for line in decision.trace_lines if line.step == "sender_unverified")
    assert not sender.hit and sender.detail == f"{OUR_MTA} says dmarc=pass for example.org"


@pytest.mark.parametrize("name, fields, context, outcome, status", ROWS,
                         ids=[row[0] for row in ROWS])
def test_an_unverified_mail_opens_a_linked_ticket_instead(
        name: str, fields: dict[str, Any], context: dict[str, Any], outcome: Outcome,
        status: Status | None) -> None:
    decision = decided(FAIL, fields, context)
    assert decision.outcome == Outcome.NEW_TICKET and decision.ticket is None
    new = decision.new_ticket
    assert new is not None
    assert new.unverified == "dmarc=fail for example.org"
    assert new.related == (NUMBER,)
    assert new.follows is None  # the acknowledgement names no other ticket
    assert new.requester == "alice@example.org"
    assert decision.escalation is None and decision.rating is None
    assert decision.new_status is None and decision.more_mail == ()
    assert decision.reply is not None and decision.reply.template == "ack"
    assert f"sender_unverified: {OUR_MTA}: dmarc=fail for example.org" in decision.trace
    assert any(line.startswith(("unverified_not_joined: alice@example.org",
                                "unverified_not_escalated: alice@example.org"))
               for line in decision.trace)
    assert not any(line.startswith("sender_not_participant") for line in decision.trace)


@pytest.mark.parametrize("step, words", [
    ("escalation_phrase", "escalates nothing"), ("survey_reply", "rates nothing"),
    ("reopen_window", "reopens nothing"), ("confirmation", "confirms nothing"),
])
def test_each_acting_step_refuses_an_unverified_mail_on_its_own(step: str, words: str) -> None:
    """Even handed the ticket (a table reordered, a step moved before the threading), the
    steps that escalate, rate, reopen and close refuse."""
    decision = decided(FAIL, {"own_text": "Yes, solved. Please escalate this. 5"},
                       by_header(ticket(Status.RESOLVED)))
    line = next(t for t in decision.trace_lines if t.step == step)
    assert not line.hit and line.detail == f"an unverified sender {words}"


def test_a_stranger_to_escalation_is_refused_as_before_verified_or_not() -> None:
    """Not a participant: the one refusal, kept off every ticket; authenticity changes
    nothing there."""
    fields = dict(ROWS[-1][1], from_addr="eve@evil.example")
    for results in (PASS, FAIL):
        decision = decided(results, fields, {"escalation_named": (NUMBER, ticket())})
        assert decision.outcome == Outcome.ESCALATION_REFUSED


def test_a_new_request_from_an_unverified_sender_is_marked_too() -> None:
    decision = decided(FAIL, {"subject": "Cannot log in", "own_text": "Help"}, {})
    assert decision.outcome == Outcome.NEW_TICKET and decision.new_ticket is not None
    assert decision.new_ticket.unverified == "dmarc=fail for example.org"
    assert decision.new_ticket.related == ()


@pytest.mark.parametrize("results, settings, detail", [
    (None, SETTINGS, f"no readable Authentication-Results of {OUR_MTA}: not judged"),
    (FAIL, replace(SETTINGS, dmarc_trust=DmarcTrust()),
     "mail.trusted_authserv_id is not set: senders are not judged"),
])
def test_without_a_verdict_a_reply_joins_as_before(
        results: tuple[AuthResult, ...] | None, settings: Any, detail: str) -> None:
    mail = inbound(auth_results=results, own_text="Still wrong.")
    decision = decide(mail, ctx(**by_header(ticket())), settings, NOW)
    assert decision.outcome == Outcome.FOLLOWUP and decision.ticket is not None
    line = next(t for t in decision.trace_lines if t.step == "sender_unverified")
    assert not line.hit and line.detail == detail


def test_automatic_mail_is_not_judged_by_its_from() -> None:
    """A bounce comes from the bouncing server, which rarely aligns: it still reaches the
    ticket through our Message-ID, and changes nothing there."""
    bounce = inbound(from_addr="mailer-daemon@mx.example.org", envelope_sender="",
                     auth_results=(AuthResult("spf", "none", ""),),
                     loop_headers={"auto-submitted": "auto-replied"})
    decision = decide(bounce, ctx(**by_header(ticket())), SETTINGS, NOW)
    assert decision.outcome == Outcome.AUTOMATIC_ON_TICKET
    line = next(t for t in decision.trace_lines if t.step == "sender_unverified")
    assert not line.hit and line.detail.startswith("automatic mail is not judged")


def test_proven_staff_passes_both_checks() -> None:
    staff = replace(SETTINGS, staff_domains=frozenset({"healthsync.com"}),
                    dmarc_trust=DmarcTrust(OUR_MTA, frozenset({"healthsync.com"})))
    mail = inbound(from_addr="sam@healthsync.com", dmarc_pass_domain="healthsync.com",
                   auth_results=(AuthResult("dmarc", "pass", "healthsync.com"),),
                   own_text="Please reset your password in the app.")
    decision = decide(mail, ctx(**by_header(ticket())), staff, NOW)
    assert decision.outcome == Outcome.FOLLOWUP and decision.ticket is not None
    assert decision.reply is not None and decision.reply.template == "agent_reply"
    assert decision.agent_text == "Please reset your password in the app."
