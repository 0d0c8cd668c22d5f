"""Issue 12, point 5: the escalation rules (policy/escalation.py) and the steps of the
decision table that use them (policy/escalating.py), with plain values and a fixed `now`.

Tables: which own words ask for escalation (never quoted ones), which numbers a mail to
escalation@ names (6 to 8 digits, never 5 or 9), how far a priority goes up for each tier.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from maildaemon.config import config_from_dict
from maildaemon.domain import (
    Customer,
    Decision,
    EscalationFate,
    Outcome,
    Priority,
    ReferenceHit,
    Status,
    TicketRef,
    Tier,
)
from maildaemon.escalation_config import escalation_settings
from maildaemon.policy.decide import decide
from maildaemon.policy.escalation import (
    DEFAULT_PHRASES,
    asks_for_escalation,
    number_named,
    raised_priority,
)
from maildaemon.worker import policy_settings
from tests.test_policy import NOW, ctx, inbound

CONFIG = config_from_dict({"escalation": {"manager": "Esc.Lead@healthsync.com"},
                           "managers": {"escalation": ["boss@healthsync.com"]}})
SETTINGS = policy_settings(CONFIG)
ESCALATION = "escalation@healthsync.com"


def ticket(number: str = "HS-111111", status: Status = Status.OPEN,
           priority: Priority = Priority.MEDIUM, escalated: bool = False,
           queue: str = "billing", **fields: object) -> TicketRef:
    base: dict[str, object] = dict(
        number=number, status=status, queue=queue, requester="alice@example.org",
        subject="Invoice", participants=frozenset({"alice@example.org", "bob@example.org"}),
        priority=priority, escalated=escalated)
    base.update(fields)
    return TicketRef(**base)  # type: ignore[arg-type]


def to_escalation(body: str = "Please look at HS-111111, nobody answers.",
                  subject: str = "Escalation", sender: str = "alice@example.org",
                  **fields: object) -> dict[str, object]:
    return dict(from_addr=sender, to=(ESCALATION,), subject=subject, text=body,
                own_text=body, envelope_rcpts=(ESCALATION,), **fields)


def decided(mail: dict[str, object], **context: object) -> Decision:
    return decide(inbound(**mail), ctx(**context), SETTINGS, NOW)


# -- which own words ask ---------------------------------------------------------------------

@pytest.mark.parametrize("own_text,asked", [
    ("Please escalate this ticket, the clinic is waiting.", "please escalate this ticket"),
    ("ESCALATE THIS NOW", "escalate this"),
    ("Hi,\nplease\n  escalate   this ticket\nThanks", "please escalate this ticket"),
    ("Could you please escalate? It has been a week.", "please escalate"),
    ("Thanks!\n\n> Please escalate this ticket\n> Alice", None),  # an inline answer's quote
    ("Please don't escalate this yet, we found a workaround.", None),
    ("No need to escalate this.", None),
    ("We would rather de-escalate this situation.", None),
    ("It was escalated this morning already.", None),
    ("The escalator is broken", None),
    ("", None),
])
def test_own_words_ask_for_escalation(own_text: str, asked: str | None) -> None:
    assert asks_for_escalation(own_text, DEFAULT_PHRASES) == asked


def test_configured_phrases_replace_the_defaults() -> None:
    phrases = ("bitte eskalieren",)
    assert asks_for_escalation("Bitte   ESKALIEREN, danke", phrases) == "bitte eskalieren"
    assert asks_for_escalation("Please escalate this ticket", phrases) is None
    assert asks_for_escalation("Please escalate this ticket", ()) is None


# -- which number a mail to escalation@ names ----------------------------------------------

@pytest.mark.parametrize("subject,body,named", [
    ("Escalate HS-123456", "", "HS-123456"),
    ("[HS-1234567] still broken", "", "HS-1234567"),
    ("Escalation", "My ticket is HS-12345678, please help.", "HS-12345678"),
    ("Re: HS-222222", "See HS-333333 too", "HS-222222"),  # the subject's first
    ("Escalation", "My ticket is HS-12345, please help.", None),  # five digits
    ("Escalation HS-123456789", "", None),  # nine digits
    ("Escalation", "Thanks\n> about HS-123456", None),  # only in quoted text
    ("Escalation", "nothing here", None),
])
def test_a_mail_to_escalation_names_6_to_8_digits(subject: str, body: str,
                                                  named: str | None) -> None:
    mail = inbound(**to_escalation(body, subject))
    assert number_named(mail, SETTINGS) == named


def test_only_mail_to_the_escalation_address_names_a_ticket_for_it() -> None:
    mail = inbound(subject="Escalate HS-123456", to=("support@healthsync.com",))
    assert number_named(mail, SETTINGS) is None
    no_address = replace(SETTINGS, escalation_queue=None)
    assert number_named(inbound(**to_escalation()), no_address) is None


# -- levels and caps -------------------------------------------------------------------------

@pytest.mark.parametrize("tier,before,after", [
    (Tier.FREE, Priority.LOW, Priority.MEDIUM),
    (Tier.FREE, Priority.MEDIUM, Priority.HIGH),
    (Tier.FREE, Priority.HIGH, Priority.HIGH),
    (Tier.FREE, Priority.CRITICAL, Priority.CRITICAL),  # never lowered
    (Tier.PLUS, Priority.MEDIUM, Priority.HIGH),
    (Tier.PLUS, Priority.HIGH, Priority.HIGH),
    (Tier.PREMIUM, Priority.MEDIUM, Priority.HIGH),
    (Tier.PREMIUM, Priority.HIGH, Priority.CRITICAL),
    (Tier.PREMIUM, Priority.CRITICAL, Priority.CRITICAL),
    (Tier.ENTERPRISE, Priority.LOW, Priority.MEDIUM),
    (Tier.ENTERPRISE, Priority.HIGH, Priority.CRITICAL),
])
def test_one_level_up_capped_by_tier(tier: Tier, before: Priority, after: Priority) -> None:
    assert raised_priority(before, tier) == after


@pytest.mark.parametrize("entry,after", [
    (None, Priority.HIGH),  # unknown: free
    (Customer("alice@example.org", Tier.PLUS), Priority.HIGH),
    (Customer("alice@example.org", Tier.PREMIUM), Priority.CRITICAL),
    (Customer("alice@example.org", Tier.ENTERPRISE), Priority.CRITICAL),
])
def test_the_requesters_tier_caps_an_escalation_by_address(entry: Customer | None,
                                                           after: Priority) -> None:
    high = ticket(priority=Priority.HIGH)
    decision = decided(to_escalation(), escalation_named=("HS-111111", high), customer=entry)
    assert decision.escalation is not None and decision.escalation.priority == after


def test_a_copied_participant_escalates_within_the_requesters_tier() -> None:
    """Bob is free; the ticket is Alice's, who is premium (context.py loaded her entry)."""
    high = ticket(priority=Priority.HIGH)
    decision = decided(to_escalation(sender="bob@example.org"),
                       escalation_named=("HS-111111", high),
                       customer=Customer("bob@example.org", Tier.FREE),
                       requester_customer=Customer("alice@example.org", Tier.PREMIUM,
                                                   account_manager="kim@healthsync.com"))
    assert decision.escalation is not None
    assert decision.escalation.priority == Priority.CRITICAL
    assert decision.escalation.account_manager == "kim@healthsync.com"
    assert decision.reply is not None and decision.reply.to == "bob@example.org"


# -- the steps -------------------------------------------------------------------------------

def test_a_participants_mail_to_escalation_escalates_the_ticket() -> None:
    decision = decided(to_escalation(), escalation_named=("HS-111111", ticket()))
    esc = decision.escalation
    assert decision.outcome == Outcome.FOLLOWUP and decision.ticket == ticket()
    assert esc is not None and esc.fate == EscalationFate.ESCALATED
    assert (esc.old_priority, esc.priority) == (Priority.MEDIUM, Priority.HIGH)
    assert (esc.old_queue, esc.queue) == ("billing", "escalation")
    assert esc.assignee == "esc.lead@healthsync.com"
    assert esc.first_response_due == NOW + timedelta(hours=4)  # [sla] high
    assert esc.by == "alice@example.org" and "nobody answers" in esc.reason
    assert (decision.new_priority, decision.assignee) == (Priority.HIGH, esc.assignee)
    assert decision.reply is not None
    assert (decision.reply.template, decision.reply.queue) == ("escalation_confirmed",
                                                               "escalation")
    assert decision.notify == ("escalated",)
    types = [e.type for e in decision.events]
    assert types == ["escalation_request", "escalated"]
    assert "priority medium -> high; queue billing -> escalation" in decision.events[1].detail
    assert [line.step for line in decision.trace_lines if line.hit] == \
        ["escalation_by_address"]


def test_without_a_manager_the_assignee_stays() -> None:
    settings = replace(SETTINGS, escalation_manager=None)
    decision = decide(inbound(**to_escalation()),
                      ctx(escalation_named=("HS-111111", ticket(assignee="sam@x.org"))),
                      settings, NOW)
    assert decision.escalation is not None and decision.escalation.assignee is None
    assert decision.assignee is None


@pytest.mark.parametrize("status", [Status.WAITING, Status.RESOLVED])
def test_a_customers_escalation_opens_a_waiting_or_resolved_ticket(status: Status) -> None:
    decision = decided(to_escalation(), escalation_named=("HS-111111", ticket(status=status)))
    assert decision.new_status == Status.OPEN


def test_a_stranger_and_a_missing_number_get_the_same_refusal() -> None:
    stranger = decided(to_escalation(sender="eve@example.net"),
                       escalation_named=("HS-111111", ticket()))
    missing = decided(to_escalation("Please look at HS-999999", sender="eve@example.net"),
                      escalation_named=("HS-999999", None))
    for decision in (stranger, missing):
        assert decision.outcome == Outcome.ESCALATION_REFUSED
        assert decision.ticket is None and decision.new_ticket is None
        assert decision.events == () and decision.notify == ()
        assert decision.new_priority is None and decision.assignee is None
        assert decision.escalation is not None
        assert decision.escalation.fate == EscalationFate.REFUSED
    assert replace(stranger, trace_lines=(), escalation=None) == \
        replace(missing, trace_lines=(), escalation=None)
    assert stranger.reply is not None and stranger.reply.template == "escalation_refused"
    assert stranger.reply.to == "eve@example.net"
    assert stranger.escalation and missing.escalation
    assert (stranger.escalation.number, missing.escalation.number) == ("HS-111111",
                                                                       "HS-999999")


def test_a_refusal_is_rate_limited_like_every_answer() -> None:
    decision = decided(to_escalation(sender="eve@example.net"),
                       escalation_named=("HS-999999", None), recent_autoreplies_to_sender=5)
    assert decision.outcome == Outcome.ESCALATION_REFUSED and decision.reply is None
    assert "rate_limit" in [line.step for line in decision.trace_lines]


def test_a_ticket_closed_past_the_reopen_window_is_refused_too() -> None:
    old = ticket(status=Status.CLOSED, closed_at=NOW - timedelta(days=30))
    decision = decided(to_escalation(), escalation_named=("HS-111111", old))
    assert decision.outcome == Outcome.ESCALATION_REFUSED


def test_escalating_an_escalated_ticket_changes_nothing_and_says_so() -> None:
    done = ticket(priority=Priority.HIGH, escalated=True, queue="escalation")
    decision = decided(to_escalation(), escalation_named=("HS-111111", done))
    esc = decision.escalation
    assert esc is not None and esc.fate == EscalationFate.ALREADY
    assert decision.new_priority is None and decision.assignee is None
    assert decision.new_status is None
    assert decision.reply is not None and decision.reply.template == "escalation_already"
    assert [e.type for e in decision.events] == ["escalation_request", "escalation_repeated"]


def test_a_reply_in_an_escalated_tickets_thread_is_a_follow_up() -> None:
    """Our mail about an escalated ticket comes from escalation@: answers to it are no
    new request."""
    done = ticket(priority=Priority.HIGH, escalated=True, queue="escalation")
    hit = ReferenceHit(done, "our_message_id", "<HS-111111.x.y@healthsync.com>")
    decision = decided(to_escalation("Here is the log you asked for.", "Re: [HS-111111] x"),
                       escalation_named=("HS-111111", done), header_hit=hit,
                       subject_tickets=(done,))
    assert decision.outcome == Outcome.FOLLOWUP and decision.escalation is None
    assert decision.reply is not None and decision.reply.template == "reply_received"


def test_automatic_mail_to_escalation_is_never_a_request() -> None:
    decision = decided(to_escalation(loop_headers={"auto-submitted": "auto-replied"}),
                       escalation_named=("HS-111111", ticket()))
    assert decision.outcome in (Outcome.AUTOMATIC, Outcome.AUTOMATIC_ON_TICKET)
    assert decision.escalation is None and decision.reply is None


def test_a_mail_to_escalation_naming_no_ticket_opens_one_there() -> None:
    decision = decided(to_escalation("Nobody answers my calls!"))
    assert decision.outcome == Outcome.NEW_TICKET and decision.new_ticket is not None
    assert decision.new_ticket.queue == "escalation"


def reply_on(own_text: str, subject_ticket: TicketRef | None = None) -> Decision:
    joined = subject_ticket or ticket()
    return decided(dict(subject="Re: [HS-111111] Invoice", text=own_text, own_text=own_text),
                   subject_tickets=(joined,))


def test_a_phrase_in_a_participants_own_words_escalates() -> None:
    decision = reply_on("Nobody has answered in a week. Please escalate this ticket.")
    assert decision.escalation is not None
    assert decision.escalation.fate == EscalationFate.ESCALATED
    assert decision.reply is not None and decision.reply.template == "escalation_confirmed"
    assert [line.step for line in decision.trace_lines if line.hit] == \
        ["token_from_subject", "escalation_phrase"]


def test_a_phrase_only_in_quoted_text_does_nothing() -> None:
    decision = reply_on("Here is the screenshot.\n> Please escalate this ticket")
    assert decision.escalation is None
    assert decision.reply is not None and decision.reply.template == "reply_received"


def test_a_closed_ticket_within_the_window_is_escalated_and_opened() -> None:
    closed = ticket(status=Status.CLOSED, closed_at=NOW - timedelta(days=1))
    decision = reply_on("It is broken again, escalate this!", closed)
    assert decision.escalation is not None and decision.escalation.reopened
    assert decision.new_status == Status.OPEN


def test_a_closed_ticket_past_the_window_makes_a_new_linked_ticket() -> None:
    closed = ticket(status=Status.CLOSED, closed_at=NOW - timedelta(days=30))
    decision = reply_on("It is broken again, escalate this!", closed)
    assert decision.outcome == Outcome.NEW_TICKET and decision.escalation is None


# -- premium: the account manager on a new ticket ------------------------------------------

def test_an_account_manager_is_copied_and_assigned() -> None:
    kim = Customer("alice@example.org", Tier.PREMIUM, account_manager="kim@healthsync.com")
    decision = decided({}, customer=kim)
    assert decision.new_ticket is not None
    assert decision.new_ticket.assignee == "kim@healthsync.com"
    assert decision.new_ticket.proactive
    assert decision.reply is not None and decision.reply.cc == ("kim@healthsync.com",)
    assert ("assigned", "to kim@healthsync.com, the account manager of alice@example.org") \
        in [(e.type, e.detail) for e in decision.events]


def test_a_customer_without_manager_has_no_copy_and_free_no_updates() -> None:
    decision = decided({}, customer=Customer("alice@example.org", Tier.FREE))
    assert decision.new_ticket is not None and decision.reply is not None
    assert decision.new_ticket.assignee is None and decision.reply.cc == ()
    assert not decision.new_ticket.proactive
    enterprise = decided({}, customer=Customer("alice@example.org", Tier.ENTERPRISE))
    assert enterprise.new_ticket is not None and enterprise.new_ticket.proactive


def test_the_old_tickets_agent_wins_over_the_account_manager() -> None:
    kim = Customer("alice@example.org", Tier.PREMIUM, account_manager="kim@healthsync.com")
    closed = ticket(status=Status.CLOSED, closed_at=NOW - timedelta(days=30),
                    assignee="sam@healthsync.com")
    decision = reply_on_with(closed, kim)
    assert decision.new_ticket is not None
    assert decision.new_ticket.assignee == "sam@healthsync.com"
    assert decision.reply is not None and decision.reply.cc == ("kim@healthsync.com",)


def reply_on_with(joined: TicketRef, customer: Customer) -> Decision:
    return decided(dict(subject="Re: [HS-111111] Invoice", text="Again", own_text="Again"),
                   subject_tickets=(joined,), customer=customer)


def test_escalation_settings_come_from_the_configuration() -> None:
    values = escalation_settings(CONFIG)
    assert values["escalation_queue"] == "escalation"
    assert values["escalation_manager"] == "esc.lead@healthsync.com"
    assert values["escalation_phrases"] == DEFAULT_PHRASES
    renamed = config_from_dict({"queues": {"support": "support", "urgent": "priority"},
                                "routing": {"order": ["priority", "support"]}})
    assert escalation_settings(renamed)["escalation_queue"] is None
