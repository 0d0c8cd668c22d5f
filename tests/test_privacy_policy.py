"""What a message that held sensitive data leads to (policy/privacy.py): the kept trace line
that becomes the ticket's `sensitive_data_removed` event, and who gets the one notice."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from maildaemon.domain import Outcome, ReferenceHit, Removed, Reply, Status
from maildaemon.policy.decide import decide
from maildaemon.policy.privacy import listed, removed_words
from tests.test_policy import NOW, SETTINGS, ctx, inbound, ticket

CARD_AND_SSN = Removed(kinds=("card", "ssn"), places=("the subject", "the text", "notes.txt"))
QUOTED = Removed(kinds=("card",), places=("the text",), own_words=False)


def joined(**fields: object) -> object:
    hit = ReferenceHit(ticket(Status.WAITING), "stored_message_id", "<a@example.org>")
    return ctx(header_hit=hit, **fields)


def notices(decision: object) -> list[Reply]:
    mail = [decision.reply, *decision.more_mail]  # type: ignore[attr-defined]
    return [r for r in mail if r is not None and r.template == "sensitive_data"]


def removed_line(decision: object) -> str:
    [line] = [line for line in decision.trace_lines  # type: ignore[attr-defined]
              if line.step == "sensitive_data_removed"]
    assert line.hit and line.kept
    return str(line.detail)


def test_a_new_ticket_gets_the_event_and_its_sender_one_notice() -> None:
    decision = decide(inbound(removed=CARD_AND_SSN), ctx(), SETTINGS, NOW)
    assert decision.outcome == Outcome.NEW_TICKET
    assert decision.reply is not None and decision.reply.template == "ack"  # still acked
    assert notices(decision) == [Reply("sensitive_data", "alice@example.org",
                                       decision.new_ticket.queue)]  # type: ignore[union-attr]
    assert removed_line(decision) == (
        "card number and social security number removed from the subject, the text and "
        "notes.txt; the message is kept with them masked; alice@example.org is told")
    assert "sensitive_data_removed: card number" in " ".join(decision.trace)  # the event


def test_a_follow_up_gets_it_too() -> None:
    decision = decide(inbound(removed=CARD_AND_SSN), joined(), SETTINGS, NOW)
    assert decision.outcome == Outcome.FOLLOWUP and decision.new_status == Status.OPEN
    assert [r.queue for r in notices(decision)] == ["billing"]


def test_only_in_the_quoted_history_nobody_is_told_again() -> None:
    decision = decide(inbound(removed=QUOTED), joined(), SETTINGS, NOW)
    assert notices(decision) == []
    assert removed_line(decision).endswith("only in the history it quotes: nobody told again")


@pytest.mark.parametrize(("fields", "why"), [
    ({"loop_headers": {"auto-submitted": "auto-replied"}}, "automatic mail"),
    ({"from_addr": "a b@example.org"}, "no address to write to"),
])
def test_nobody_is_told(fields: dict[str, object], why: str) -> None:
    decision = decide(inbound(removed=CARD_AND_SSN, **fields), joined(), SETTINGS, NOW)
    assert notices(decision) == [], why
    assert removed_line(decision).endswith("kept with them masked")


@pytest.mark.parametrize("proven", [True, False])
def test_staff_get_no_notice(proven: bool) -> None:
    """Internal: the event tells them. Unproven staff addresses are strangers to the
    ticket (a new linked one), and get no notice either."""
    staff = inbound(removed=CARD_AND_SSN, from_addr="sam@healthsync.com",
                    envelope_sender="sam@healthsync.com", own_text="Done, see below.",
                    dmarc_pass_domain="healthsync.com" if proven else "")
    decision = decide(staff, ctx(subject_tickets=(ticket(),)), SETTINGS, NOW)
    assert (decision.reply is not None and decision.reply.template == "agent_reply") == proven
    assert notices(decision) == []


def test_the_notice_counts_against_the_hourly_limit() -> None:
    limit = SETTINGS.autoreply_max_per_hour
    decision = decide(inbound(removed=CARD_AND_SSN), ctx(recent_autoreplies_to_sender=limit - 1),
                      SETTINGS, NOW)
    assert decision.reply is not None  # the acknowledgement took the last one
    assert notices(decision) == []
    assert any(line.step == "rate_limit" and "no notice" in line.detail
               for line in decision.trace_lines)


def test_no_notice_when_switched_off() -> None:
    decision = decide(inbound(removed=CARD_AND_SSN), ctx(),
                      replace(SETTINGS, privacy_notice=False), NOW)
    assert notices(decision) == [] and removed_line(decision)


def test_a_duplicate_does_nothing_at_all() -> None:
    decision = decide(inbound(removed=CARD_AND_SSN), ctx(already_processed=True), SETTINGS, NOW)
    assert decision.outcome == Outcome.DUPLICATE
    assert notices(decision) == [] and all(
        line.step != "sensitive_data_removed" for line in decision.trace_lines)


def test_a_message_with_nothing_removed_is_decided_as_before() -> None:
    decision = decide(inbound(), ctx(), SETTINGS, NOW)
    assert notices(decision) == []
    assert all(line.step != "sensitive_data_removed" for line in decision.trace_lines)


def test_the_words_never_hold_a_value() -> None:
    decision = decide(inbound(removed=CARD_AND_SSN), ctx(), SETTINGS, NOW)
    assert not re.search(r"\d{4}", removed_line(decision))
    assert removed_words(("card", "ssn", "password")) == (
        "a payment card number, a social security number and a password or PIN")
    assert listed(["a"]) == "a" and listed([]) == ""
