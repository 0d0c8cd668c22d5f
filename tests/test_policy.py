"""The pure decision core, tested with plain values and a fixed `now`."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from maildaemon.config import Config
from maildaemon.domain import Context, InboundMail, Outcome, ReferenceHit, Status, TicketRef
from maildaemon.policy.decide import decide
from maildaemon.policy.followup import (
    make_message_id,
    outbound_subject,
    strip_reply_prefixes,
    ticket_of_our_message_id,
    tokens_in_subject,
)
from maildaemon.policy.loops import automated_reason
from maildaemon.policy.priority import describe_hours
from maildaemon.policy.routing import choose_queue, rcpt_verdict
from maildaemon.worker import policy_settings

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
SETTINGS = replace(policy_settings(Config()), staff_domains=frozenset({"healthsync.com"}))
SECRET = b"k" * 32


def inbound(**fields: object) -> InboundMail:
    base: dict[str, object] = dict(
        message_id="<m1@example.org>", dedup_key="k1", from_addr="alice@example.org",
        from_name="Alice", to=("support@healthsync.com",), cc=(), subject="Help",
        date=None, in_reply_to=(), references=(), loop_headers={}, content_type="text/plain",
        text="hi", envelope_sender="alice@example.org", envelope_rcpts=(), raw_sha256="0",
        size=10,
    )
    base.update(fields)
    return InboundMail(**base)  # type: ignore[arg-type]


def ticket(status: Status = Status.OPEN, closed_at: datetime | None = None) -> TicketRef:
    return TicketRef("HS-111111", status, "billing", "alice@example.org", "Invoice",
                     frozenset({"alice@example.org", "bob@example.org"}), closed_at)


def ctx(**fields: object) -> Context:
    base: dict[str, object] = dict(already_processed=False, header_hit=None, subject_tickets=(),
                                   recent_autoreplies_to_sender=0)
    base.update(fields)
    return Context(**base)  # type: ignore[arg-type]


# -- tokens and prefixes -------------------------------------------------------------------

@pytest.mark.parametrize("subject", [
    "HS-123456", "[HS-123456]", "re: [hs-123456] x", "Aw: (HS-123456)", "x HS-123456 y",
    "回复: [HS-123456]", "RE: RE: Fwd: [HS-123456] x",
])
def test_token_found_anywhere_in_subject(subject: str) -> None:
    assert tokens_in_subject(subject) == ["HS-123456"]


def test_wider_numbers_of_a_large_installation_are_tokens() -> None:
    assert tokens_in_subject("Re: [HS-1234567] x") == ["HS-1234567"]
    assert outbound_subject("HS-1234567", "Re: [HS-1234567] x") == "[HS-1234567] Re: x"


@pytest.mark.parametrize("subject", ["HS-123456789", "XHS-123456", "HS-12345", "HS 123456"])
def test_near_misses_are_not_tokens(subject: str) -> None:
    assert tokens_in_subject(subject) == []


@pytest.mark.parametrize("subject,expected", [
    ("Re: Aw: SV: Vs: Antw: Réf: 回复: Re[3]: Fwd: Fw: WG: TR: Hello", "Hello"),
    ("RE:RE: Hello", "Hello"),
    ("Hello: world", "Hello: world"),
])
def test_reply_prefixes_strip(subject: str, expected: str) -> None:
    assert strip_reply_prefixes(subject) == expected


@pytest.mark.parametrize("subject,expected", [
    ("FIRE: server room down", "[HS-123456] FIRE: server room down"),
    ("Re: [HS-123456] x", "[HS-123456] Re: x"),
    ("[hs-123456] x", "[HS-123456] x"),
    ("", "[HS-123456]"),
])
def test_outbound_subject_carries_our_token_once(subject: str, expected: str) -> None:
    assert outbound_subject("HS-123456", subject) == expected


def test_our_message_ids_verify_and_cannot_be_forged() -> None:
    ours = make_message_id(SECRET, "HS-123456", "abc123", "healthsync.com")
    assert ticket_of_our_message_id(ours, SECRET, "healthsync.com") == "HS-123456"
    assert ticket_of_our_message_id(ours, b"other secret", "healthsync.com") is None
    forged = ours.replace("HS-123456", "HS-654321")
    assert ticket_of_our_message_id(forged, SECRET, "healthsync.com") is None
    assert ticket_of_our_message_id(ours, SECRET, "evil.example") is None


# -- routing, loops, priority --------------------------------------------------------------

def test_rcpt_verdicts() -> None:
    assert rcpt_verdict("Support@HealthSync.com", SETTINGS).startswith("250")
    assert rcpt_verdict("support+urgent@healthsync.com", SETTINGS).startswith("250")
    assert rcpt_verdict("sales@healthsync.com", SETTINGS).startswith("550 5.1.1")
    assert rcpt_verdict("support@evil.example", SETTINGS).startswith("550 5.7.1")
    assert rcpt_verdict("not-an-address", SETTINGS).startswith("550 5.7.1")


def test_queue_order_picks_one_queue() -> None:
    assert choose_queue(["support@healthsync.com", "billing@healthsync.com"], SETTINGS) == (
        "billing", ["billing", "support"])
    assert choose_queue(["x@other.org"], SETTINGS) == ("support", [])


@pytest.mark.parametrize("fields,reason", [
    ({"envelope_sender": ""}, "null_envelope_sender"),
    ({"loop_headers": {"auto-submitted": "auto-replied"}}, "auto_submitted"),
    ({"loop_headers": {"auto-submitted": "no"}}, None),
    ({"loop_headers": {"precedence": "Bulk"}}, "precedence_bulk"),
    ({"loop_headers": {"list-id": "<x>"}}, "mailing_list"),
    ({"loop_headers": {"x-autoreply": "yes"}}, "x_autoreply"),
    ({"content_type": "multipart/report"}, "delivery_report"),
    ({"from_addr": "mailer-daemon@x.org"}, "robot_sender"),
    ({"from_addr": "no-reply@x.org"}, "robot_sender"),
    ({"from_addr": "support@healthsync.com"}, "own_address"),
    ({"from_addr": ""}, "no_sender_address"),
    ({}, None),
])
def test_automated_classification(fields: dict[str, object], reason: str | None) -> None:
    assert automated_reason(inbound(**fields), SETTINGS) == reason


def test_response_times_in_customer_words() -> None:
    # The priority rules are tests/test_priority_rules.py's.
    assert describe_hours(1) == "within 1 hour"
    assert describe_hours(24) == "within 24 hours"
    assert describe_hours(72) == "within 3 days"
    assert describe_hours(0.5) == "within 30 minutes"


# -- decide --------------------------------------------------------------------------------

def test_duplicate_does_nothing() -> None:
    decision = decide(inbound(), ctx(already_processed=True), SETTINGS, NOW)
    assert decision.outcome == Outcome.DUPLICATE and decision.reply is None


def test_new_ticket_with_copied_participants_and_ack() -> None:
    mail = inbound(cc=("bob@example.org", "billing@healthsync.com"),
                   subject="Payments are failing")
    decision = decide(mail, ctx(), SETTINGS, NOW)
    assert decision.outcome == Outcome.NEW_TICKET
    new = decision.new_ticket
    assert new is not None and new.queue == "billing"
    assert new.participants == ("alice@example.org", "bob@example.org")
    assert new.first_response_due == NOW + timedelta(hours=4)
    assert decision.reply is not None and decision.reply.template == "ack"


def test_participant_follows_up_and_waiting_reopens() -> None:
    decision = decide(inbound(), ctx(subject_tickets=(ticket(Status.WAITING),)), SETTINGS, NOW)
    assert decision.outcome == Outcome.FOLLOWUP
    assert decision.new_status == Status.OPEN
    assert decision.reply is not None and decision.reply.template == "reply_received"


def test_staff_may_follow_up_any_ticket() -> None:
    # Proven staff only (tests/test_staff_spoofing.py has the unproven kind).
    mail = inbound(from_addr="agent@healthsync.com", envelope_sender="agent@healthsync.com",
                   dmarc_pass_domain="healthsync.com")
    decision = decide(mail, ctx(subject_tickets=(ticket(),)), SETTINGS, NOW)
    assert decision.outcome == Outcome.FOLLOWUP


def test_stranger_gets_new_related_ticket() -> None:
    mail = inbound(from_addr="eve@evil.example", envelope_sender="eve@evil.example")
    hit = ReferenceHit(ticket(), "our_message_id", "<x>")
    decision = decide(mail, ctx(header_hit=hit), SETTINGS, NOW)
    assert decision.outcome == Outcome.NEW_TICKET
    assert decision.new_ticket is not None and decision.new_ticket.related == ("HS-111111",)
    assert any(line.startswith("sender_not_participant") for line in decision.trace)


def test_automatic_mail_on_our_thread_is_kept_on_the_ticket_unanswered() -> None:
    mail = inbound(from_addr="mailer-daemon@x.org", envelope_sender="")
    hit = ReferenceHit(ticket(), "our_message_id", "<x>")
    decision = decide(mail, ctx(header_hit=hit), SETTINGS, NOW)
    assert decision.outcome == Outcome.AUTOMATIC_ON_TICKET
    assert decision.reply is None and decision.new_status is None


def test_automatic_mail_naming_a_ticket_only_in_the_subject_stays_off_it() -> None:
    mail = inbound(from_addr="mailer-daemon@x.org", envelope_sender="")
    decision = decide(mail, ctx(subject_tickets=(ticket(),)), SETTINGS, NOW)
    assert decision.outcome == Outcome.AUTOMATIC and decision.reply is None


def test_closed_ticket_reopens_within_the_window_only() -> None:
    recent = ticket(Status.CLOSED, NOW - timedelta(days=5))
    old = ticket(Status.CLOSED, NOW - timedelta(days=8))
    reopened = decide(inbound(), ctx(subject_tickets=(recent,)), SETTINGS, NOW)
    assert reopened.outcome == Outcome.FOLLOWUP and reopened.new_status == Status.OPEN
    linked = decide(inbound(), ctx(subject_tickets=(old,)), SETTINGS, NOW)
    assert linked.outcome == Outcome.NEW_TICKET
    assert linked.new_ticket is not None and linked.new_ticket.related == ("HS-111111",)


def test_rate_limit_stores_but_does_not_answer() -> None:
    decision = decide(inbound(), ctx(recent_autoreplies_to_sender=5), SETTINGS, NOW)
    assert decision.outcome == Outcome.NEW_TICKET and decision.reply is None
    assert any(line.startswith("rate_limit") for line in decision.trace)
