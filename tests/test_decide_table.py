"""decide() is a table of named steps: the order is data, and a new rule is one row."""

from __future__ import annotations

from dataclasses import replace

import pytest

from maildaemon.domain import (
    Decision,
    Outcome,
    Priority,
    ReferenceHit,
    Status,
    TicketRef,
)
from maildaemon.policy.decide import STEPS, decide
from maildaemon.policy.steps import Case, Step, TableWithoutEnd, Verdict, hit, miss
from tests.test_policy import NOW, SETTINGS, ctx, inbound


def vip(case: Case) -> Verdict:
    """A rule of the kind the next issues add: one function..."""
    if not case.mail.from_addr.endswith("@bigcorp.example"):
        return miss("not a key account")
    decision = decide(case.mail, case.ctx, case.settings, case.now)  # the usual ticket
    assert decision.new_ticket is not None
    urgent = replace(decision.new_ticket, priority=Priority.CRITICAL, queue="escalation")
    return hit("key account, straight to escalation", replace(decision, new_ticket=urgent))


def with_vip() -> tuple[Step, ...]:
    """...and one row, here after `automated` (automatic mail from bigcorp still counts)."""
    at = [s.name for s in STEPS].index("automated") + 1
    return (*STEPS[:at], Step("vip", "key accounts go to escalation", vip), *STEPS[at:])


def test_a_new_step_fires_in_its_place_in_the_order() -> None:
    decision = decide(inbound(from_addr="ceo@bigcorp.example"), ctx(), SETTINGS, NOW,
                      steps=with_vip())
    assert [(line.step, line.hit) for line in decision.trace_lines] == [
        ("duplicate", False), ("automated", False), ("vip", True)]
    assert decision.new_ticket is not None
    assert decision.new_ticket.priority == Priority.CRITICAL
    assert decision.trace == ("vip: key account, straight to escalation",)


def test_a_new_step_that_misses_changes_nothing_but_the_trace() -> None:
    plain = decide(inbound(), ctx(), SETTINGS, NOW)
    extended = decide(inbound(), ctx(), SETTINGS, NOW, steps=with_vip())
    assert replace(extended, trace_lines=()) == replace(plain, trace_lines=())
    steps = [line.step for line in extended.trace_lines]
    assert steps.index("automated") + 1 == steps.index("vip")
    assert steps == [*(s.name for s in with_vip()), "priority_rule"]  # new_ticket's miss
    assert decide(inbound(from_addr="ceo@bigcorp.example"), ctx(), SETTINGS, NOW
                  ).new_ticket is not None  # the shipped table does not know the new row
    assert "vip" not in [s.name for s in STEPS]


def test_every_step_is_asked_until_one_decides_and_only_hits_are_kept() -> None:
    decision = decide(inbound(), ctx(recent_autoreplies_to_sender=99), SETTINGS, NOW)
    # new_ticket's notes: the priority rules that did not fire (a miss), the rate limit.
    assert [line.step for line in decision.trace_lines] == [
        *(s.name for s in STEPS), "priority_rule", "rate_limit"]
    assert [line.hit for line in decision.trace_lines] == \
        [False] * (len(STEPS) - 1) + [True, False, True]
    assert decision.trace == (
        "new_ticket: no reference or subject token this sender may follow",
        "rate_limit: 99 automatic answers to alice@example.org in the last hour, "
        "not answering")


def test_the_run_stops_at_the_deciding_step() -> None:
    closed = TicketRef("HS-111111", Status.CLOSED, "billing", "alice@example.org", "Invoice",
                       frozenset({"alice@example.org"}), NOW)
    hit_ = ReferenceHit(closed, "stored_message_id", "<x@example.org>")
    decision = decide(inbound(), ctx(header_hit=hit_), SETTINGS, NOW)
    assert decision.outcome == Outcome.FOLLOWUP and decision.new_status == Status.OPEN
    asked = [line.step for line in decision.trace_lines]
    assert asked[-1] == "reopen_window" and "customer_reply" not in asked
    assert decision.trace == (
        "header_thread: stored_message_id <x@example.org> -> HS-111111",
        "reopen_window: HS-111111 closed less than 7 days ago, reopened")


def test_a_step_that_learns_a_fact_passes_it_on() -> None:
    # A refused stranger's ticket, found by header_thread, is linked by new_ticket.
    theirs = TicketRef("HS-222222", Status.OPEN, "support", "carol@example.org", "x",
                       frozenset({"carol@example.org"}))
    hit_ = ReferenceHit(theirs, "stored_message_id", "<y@example.org>")
    decision = decide(inbound(), ctx(header_hit=hit_), SETTINGS, NOW)
    assert decision.new_ticket is not None and decision.new_ticket.related == ("HS-222222",)
    header = next(line for line in decision.trace_lines if line.step == "header_thread")
    assert not header.hit and not header.kept
    assert "sender_not_participant: alice@example.org via header of HS-222222" in \
        decision.trace


def test_the_table_names_each_step_once_and_describes_it() -> None:
    names = [s.name for s in STEPS]
    assert len(set(names)) == len(names)
    assert all(s.description and "\n" not in s.description for s in STEPS)
    assert names[0] == "duplicate" and names[-1] == "new_ticket"
    # The survey is asked before a closed ticket reopens: a rating never reopens.
    assert names.index("survey_reply") < names.index("reopen_window")


def test_a_table_that_never_decides_is_an_error() -> None:
    with pytest.raises(TableWithoutEnd):
        decide(inbound(), ctx(), SETTINGS, NOW, steps=STEPS[:-1])


def test_a_duplicate_is_decided_by_the_first_row() -> None:
    decision = decide(inbound(), ctx(already_processed=True), SETTINGS, NOW)
    assert decision == Decision(Outcome.DUPLICATE, trace_lines=decision.trace_lines)
    assert decision.trace == ("duplicate: message already processed",)
