"""Issue 13, points 3 and 4 in the pure decision core: limits that hold whatever headers a
robot sets, and the same issue sent twice. Plain values and a fixed `now`; the worker's
and the daemon's side are in test_limits_worker.py and test_limits_e2e.py."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from maildaemon.domain import (
    Attachment,
    Decision,
    Outcome,
    ReferenceHit,
    Status,
    TicketRef,
)
from maildaemon.policy.decide import STEPS, decide
from maildaemon.policy.duplicates import duplicate_key, normal_subject
from tests.test_policy import NOW, SETTINGS, ctx, inbound, ticket

ALICE = "alice@example.org"


def kept(decision: Decision) -> dict[str, str]:
    """The kept trace lines (the ticket's events) by step or rule."""
    return {line.step: line.detail for line in decision.trace_lines if line.kept}


def reply_template(decision: Decision) -> str | None:
    return decision.reply.template if decision.reply else None


# -- per address: an hour and a day ---------------------------------------------------------

@pytest.mark.parametrize(("hour", "day", "answered", "rule"), [
    (0, 0, True, None),
    (4, 19, True, None),
    (5, 5, False, "rate_limit"),  # the hourly limit (autoreply.max_per_hour = 5)
    (0, 20, False, "daily_limit"),  # autoreply.max_per_day = 20, the last hour quiet
    (2, 25, False, "daily_limit"),
    (7, 30, False, "rate_limit"),  # both reached: the hour is named first
])
def test_automatic_answers_per_address_per_hour_and_per_day(
        hour: int, day: int, answered: bool, rule: str | None) -> None:
    decision = decide(inbound(), ctx(recent_autoreplies_to_sender=hour,
                                     autoreplies_today_to_sender=day), SETTINGS, NOW)
    assert decision.outcome == Outcome.NEW_TICKET  # the ticket opens either way
    assert (decision.reply is not None) == answered
    limits = {"rate_limit", "daily_limit"} & set(kept(decision))
    assert limits == ({rule} if rule else set())


def test_the_daily_limit_follows_the_setting() -> None:
    settings = replace(SETTINGS, autoreply_max_per_day=3)
    quiet = decide(inbound(), ctx(autoreplies_today_to_sender=3), settings, NOW)
    assert quiet.reply is None and "3 automatic answers" in kept(quiet)["daily_limit"]
    assert decide(inbound(), ctx(autoreplies_today_to_sender=2), settings, NOW).reply


# -- per ticket: one receipt confirmation an hour -------------------------------------------

def acked(status: Status = Status.OPEN, minutes_ago: float | None = 10,
          **fields: object) -> TicketRef:
    at = None if minutes_ago is None else NOW - timedelta(minutes=minutes_ago)
    return replace(ticket(status), acked_at=at, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(("minutes_ago", "confirmed"), [
    (None, True),  # never confirmed anything (a ticket from before m025)
    (1, False),  # the acknowledgement went a minute ago
    (59, False),
    (60, True),  # an hour on, a confirmation is due again
    (600, True),
])
def test_one_receipt_confirmation_per_ticket_per_hour(minutes_ago: float | None,
                                                      confirmed: bool) -> None:
    decision = decide(inbound(), ctx(subject_tickets=(acked(minutes_ago=minutes_ago),)),
                      SETTINGS, NOW)
    assert decision.outcome == Outcome.FOLLOWUP and decision.ticket is not None
    assert reply_template(decision) == ("reply_received" if confirmed else None)
    assert ("ack_limit" in kept(decision)) == (not confirmed)


def test_the_per_ticket_limit_holds_for_a_reply_that_reopens_a_closed_ticket() -> None:
    closed = acked(Status.CLOSED, 5, closed_at=NOW - timedelta(minutes=5))
    decision = decide(inbound(), ctx(subject_tickets=(closed,)), SETTINGS, NOW)
    assert decision.new_status == Status.OPEN and decision.reply is None
    assert "ack_limit" in kept(decision)


def test_a_confirmation_naming_a_refused_file_still_goes() -> None:
    """Without it the customer would believe the file arrived."""
    exe = Attachment("setup.exe", "application/octet-stream", "application/x-dosexec", 900,
                     "ab" * 32)
    decision = decide(inbound(attachments=(exe,)), ctx(subject_tickets=(acked(),)),
                      SETTINGS, NOW)
    assert reply_template(decision) == "reply_received" and decision.refused_words
    assert "ack_limit" not in kept(decision)


def test_a_header_less_robot_answering_our_acknowledgement_gets_nothing_back() -> None:
    """The ping-pong of a robot without RFC 3834 headers ends at the first exchange."""
    ours = ReferenceHit(acked(minutes_ago=0), "our_message_id", "<ack@healthsync.com>")
    robot = inbound(subject="Re: [HS-111111] Invoice", in_reply_to=("<ack@healthsync.com>",),
                    text="Thank you for your message. This mailbox is not monitored.")
    decision = decide(robot, ctx(header_hit=ours), SETTINGS, NOW)
    assert decision.outcome == Outcome.FOLLOWUP and decision.reply is None
    assert kept(decision)["ack_limit"].startswith("HS-111111 confirmed a message")


# -- a flood of new tickets -----------------------------------------------------------------

def flood_ticket(status: Status = Status.OPEN) -> TicketRef:
    return TicketRef("HS-222222", status, "support", ALICE,
                     f"Many new requests from {ALICE}", frozenset({ALICE}))


def test_below_the_flood_limit_a_new_ticket_opens_and_is_counted() -> None:
    decision = decide(inbound(), ctx(openings_by_sender=19), SETTINGS, NOW)
    assert decision.outcome == Outcome.NEW_TICKET and reply_template(decision) == "ack"
    assert decision.opening is not None and not decision.opening.flood
    assert decision.opening.sender == ALICE
    assert decision.opening.until == NOW + timedelta(minutes=10)
    assert decision.opening.text_until == NOW + timedelta(hours=24)
    [line] = [t for t in decision.trace_lines if t.step == "flood"]
    assert not line.hit and line.detail.startswith("19 of at most 20 new tickets")


def test_at_the_flood_limit_one_flood_ticket_opens_answered_once() -> None:
    settings = replace(SETTINGS, teams={"default": ("team@healthsync.com",)})
    decision = decide(inbound(subject="Disk full on node 7"), ctx(openings_by_sender=20),
                      settings, NOW)
    assert decision.outcome == Outcome.NEW_TICKET and decision.new_ticket is not None
    assert decision.new_ticket.subject == f"Many new requests from {ALICE}"
    assert reply_template(decision) == "flood"
    assert decision.opening is not None and decision.opening.flood
    assert decision.notify == ("new_ticket",)  # the team hears of the flood once
    assert kept(decision)["flood"].startswith(f"20 new tickets from {ALICE} within "
                                              "10 minutes: a flood ticket opens")


def test_further_mail_joins_the_flood_ticket_unanswered_and_is_counted() -> None:
    settings = replace(SETTINGS, teams={"default": ("team@healthsync.com",)})
    decision = decide(inbound(subject="Disk full on node 8"),
                      ctx(openings_by_sender=20, flood_ticket=flood_ticket()), settings, NOW)
    assert decision.outcome == Outcome.FOLLOWUP
    assert decision.ticket is not None and decision.ticket.number == "HS-222222"
    assert decision.reply is None and decision.notify == () and decision.new_status is None
    assert decision.opening is not None and not decision.opening.flood
    assert "joins the flood ticket HS-222222, not answered" in kept(decision)["flood"]


def test_a_closed_flood_ticket_is_followed_by_a_new_one() -> None:
    decision = decide(inbound(), ctx(openings_by_sender=20,
                                     flood_ticket=flood_ticket(Status.CLOSED)), SETTINGS, NOW)
    assert decision.outcome == Outcome.NEW_TICKET and reply_template(decision) == "flood"
    assert decision.opening is not None and decision.opening.flood


def test_the_flood_ticket_is_answered_within_the_address_limits_too() -> None:
    decision = decide(inbound(), ctx(openings_by_sender=20, recent_autoreplies_to_sender=5),
                      SETTINGS, NOW)
    assert decision.new_ticket is not None and decision.reply is None
    assert {"flood", "rate_limit"} <= set(kept(decision))


@pytest.mark.parametrize(("limit", "window", "openings", "floods"), [
    (0, 10, 500, False),  # 0 turns the limit off
    (3, 10, 2, False),
    (3, 10, 3, True),
    (3, 1, 3, True),
])
def test_the_flood_limit_follows_the_settings(limit: int, window: float, openings: int,
                                              floods: bool) -> None:
    settings = replace(SETTINGS, flood_max_new_tickets=limit,
                       flood_window=timedelta(minutes=window))
    decision = decide(inbound(), ctx(openings_by_sender=openings), settings, NOW)
    assert (reply_template(decision) == "flood") == floods
    assert decision.opening is not None
    assert decision.opening.until == NOW + timedelta(minutes=window)


def test_mail_that_joins_a_ticket_is_never_counted_as_an_opening() -> None:
    decision = decide(inbound(), ctx(subject_tickets=(ticket(),), openings_by_sender=99),
                      SETTINGS, NOW)
    assert decision.outcome == Outcome.FOLLOWUP and decision.opening is None


# -- the same issue sent twice --------------------------------------------------------------

def first(status: Status = Status.NEW, **fields: object) -> TicketRef:
    return TicketRef("HS-333333", status, "support", ALICE, "Cannot upload my lab results",
                     frozenset({ALICE}), **fields)  # type: ignore[arg-type]


def test_the_same_text_again_is_added_to_the_first_ticket_with_one_notice() -> None:
    copy = inbound(to=("tech@healthsync.com",), envelope_rcpts=("tech@healthsync.com",),
                   message_id="<copy@mail.gmail.com>")
    settings = replace(SETTINGS, teams={"default": ("team@healthsync.com",)})
    decision = decide(copy, ctx(same_text_ticket=first()), settings, NOW)
    assert decision.outcome == Outcome.FOLLOWUP and decision.ticket == first()
    assert decision.new_ticket is None and decision.opening is None
    assert reply_template(decision) == "duplicate_received"  # not a second "ack"
    assert decision.reply is not None and decision.reply.queue == "support"
    assert decision.notify == ()  # the team has read this text already
    [event] = [e for e in decision.events if e.type == "duplicate"]
    assert event.detail == ("<copy@mail.gmail.com> from alice@example.org to "
                            "tech@healthsync.com: the same request as the one that opened "
                            "HS-333333, added to it")
    assert decision.new_status is None


@pytest.mark.parametrize(("status", "after", "notify"), [
    (Status.OPEN, None, ()),
    (Status.ON_HOLD, None, ()),
    (Status.WAITING, Status.OPEN, ()),
    (Status.RESOLVED, Status.OPEN, ("reopened",)),
])
def test_a_duplicate_counts_as_the_customer_writing(status: Status, after: Status | None,
                                                    notify: tuple[str, ...]) -> None:
    settings = replace(SETTINGS, teams={"default": ("team@healthsync.com",)})
    decision = decide(inbound(), ctx(same_text_ticket=first(status)), settings, NOW)
    assert decision.outcome == Outcome.FOLLOWUP
    assert (decision.new_status, decision.notify) == (after, notify)


def test_a_closed_ticket_takes_no_duplicate_the_new_ticket_is_linked() -> None:
    decision = decide(inbound(), ctx(same_text_ticket=first(Status.CLOSED)), SETTINGS, NOW)
    assert decision.outcome == Outcome.NEW_TICKET and decision.new_ticket is not None
    assert decision.new_ticket.related == ("HS-333333",)
    assert reply_template(decision) == "ack"


def test_one_duplicate_notice_per_ticket_per_hour() -> None:
    noticed = first(duplicate_noticed_at=NOW - timedelta(minutes=30),
                    acked_at=NOW - timedelta(minutes=30))
    decision = decide(inbound(), ctx(same_text_ticket=noticed), SETTINGS, NOW)
    assert decision.outcome == Outcome.FOLLOWUP and decision.reply is None
    assert "confirmed a duplicate" in kept(decision)["ack_limit"]
    later = replace(noticed, duplicate_noticed_at=NOW - timedelta(minutes=61))
    assert reply_template(decide(inbound(), ctx(same_text_ticket=later), SETTINGS, NOW)) \
        == "duplicate_received"


def test_a_duplicate_notice_goes_although_the_acknowledgement_just_went() -> None:
    """The customer's confirmation says it was added to the ticket they already have."""
    just = first(acked_at=NOW - timedelta(minutes=2))
    assert reply_template(decide(inbound(), ctx(same_text_ticket=just), SETTINGS, NOW)) \
        == "duplicate_received"


def test_a_duplicate_is_decided_before_the_flood_limit() -> None:
    decision = decide(inbound(), ctx(same_text_ticket=first(), openings_by_sender=50),
                      SETTINGS, NOW)
    assert decision.ticket == first() and decision.opening is None


def test_the_table_has_the_new_rows_right_before_a_new_ticket() -> None:
    names = [step.name for step in STEPS]
    assert names[-4:] == ["customer_reply", "near_duplicate", "flood", "new_ticket"]


# -- what near-identical means --------------------------------------------------------------

BASE = {"from_addr": ALICE, "subject": "Cannot upload my lab results",
        "own_text": "The upload button spins forever.\nSince Monday."}


@pytest.mark.parametrize(("change", "same"), [
    ({}, True),
    ({"from_addr": "ALICE@Example.org"}, True),  # an address in another case
    ({"subject": "Re: Cannot upload my lab results"}, True),
    ({"subject": "Fwd: AW: cannot  upload my LAB results "}, True),
    ({"own_text": "The upload button spins forever. Since Monday."}, True),  # rewrapped
    ({"own_text": "the upload button SPINS forever.\n\nsince monday.\n"}, True),
    ({"own_text": "The upload button spins forever.\nSince Tuesday."}, False),
    ({"subject": "Cannot upload my lab results (again)"}, False),
    ({"from_addr": "bob@example.org"}, False),  # the same text from someone else
    ({"subject": ""}, False),
])
def test_near_identical_is_sender_normalised_subject_and_own_text(
        change: dict[str, str], same: bool) -> None:
    base = duplicate_key(inbound(**BASE), "subject_and_text")
    other = duplicate_key(inbound(**{**BASE, **change}), "subject_and_text")
    assert base is not None and other is not None
    assert (base == other) == same


def test_the_text_rule_ignores_the_subject_and_off_never_matches() -> None:
    one, two = inbound(**BASE), inbound(**{**BASE, "subject": "Another subject"})
    assert duplicate_key(one, "text") == duplicate_key(two, "text")
    assert duplicate_key(one, "subject_and_text") != duplicate_key(two, "subject_and_text")
    assert duplicate_key(one, "off") is None
    assert duplicate_key(inbound(**{**BASE, "from_addr": ""}), "text") is None


@pytest.mark.parametrize(("subject", "normal"), [
    ("Re: RE: Fwd: Hello", "hello"),
    ("AW: WG: Rechnung  für März", "rechnung für märz"),
    ("回复: 无法登录", "无法登录"),
    ("  Re[2]: Lab   results ", "lab results"),
])
def test_normal_subject(subject: str, normal: str) -> None:
    assert normal_subject(subject) == normal


def test_a_huge_subject_and_text_are_keyed_in_bounded_time() -> None:
    mail = inbound(subject="Re: " * 200_000 + "x", own_text="word " * 200_000)
    assert duplicate_key(mail, "subject_and_text")  # the subject is read to 1,000 characters
