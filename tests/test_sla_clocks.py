"""Issue 12, point 3: every way an agent answers meets the first-response target, every way
a ticket is resolved or closed meets the resolution target, and every way a ticket stops
waiting on the customer moves its resolution due time by the time it waited.

The status is written in three places (grep set_status): the worker applying a decision
(a customer's reply, an agent's mail to a reply address, a proven staff answer, a
confirmation), the agents' commands (`status`, `reply --status`) and the sweep closing a
ticket. Each is driven here through its real entry point: mail through the spool and the
worker, the commands as `maildaemon` parses them, the sweep.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from maildaemon.domain import Tier
from maildaemon.policy.replyaddress import reply_address
from maildaemon.store import iso
from maildaemon.worker import load_secret
from tests.sla_desk import AGENT, T0, Desk, outlook

TUESDAY_NEXT = datetime(2026, 12, 8, 10, 0, tzinfo=UTC)  # T0 + 5 business days
OUR_MTA = "mx.healthsync.com"


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    made = Desk(tmp_path, extra={
        "staff": {"domains": ["healthsync.com"]},
        "mail": {"trusted_authserv_id": OUR_MTA}})
    yield made
    made.close()


def medium_ticket(desk: Desk) -> str:
    """A medium ticket of T0 (Tuesday 10:00): resolution due in 5 business days."""
    number = desk.open()
    row = desk.ticket(number)
    assert (row.priority, row.resolution_due) == ("medium", iso(TUESDAY_NEXT))
    return number


def answer(desk: Desk, number: str, hours: float, *options: str) -> None:
    body = desk.config.data_dir.parent / "answer.txt"
    body.write_text("Could you send us the export log?\n")
    assert desk.command("reply", number, "--from", AGENT, "--body-file", str(body),
                        *options, hours=hours) == 0


def customer_reply(desk: Desk, number: str, hours: float, text: str = "Here is the log.",
                   tag: str = "r1") -> None:
    desk.at(hours)
    desk.deliver(outlook("ann@example.org", f"RE: [{number}] Export to PDF fails", text,
                         f"<{tag}@example.org>"))


def agent_mail(desk: Desk, number: str, hours: float, text: str, comment: bool = False,
               tag: str = "a1") -> None:
    """The agent answers the team notification from their own client (Thunderbird)."""
    address = reply_address(load_secret(desk.config.data_dir), "support", "healthsync.com",
                            number, AGENT, comment)
    desk.at(hours)
    raw = (f"From: Sam Agent <{AGENT}>\r\nTo: {address}\r\nSubject: Re: [{number}] New"
           f" ticket\r\nMessage-ID: <{tag}@healthsync.com>\r\nUser-Agent: Mozilla Thunderbird"
           f"\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n{text}\r\n\r\n-- \r\nSam\r\n")
    desk.deliver(raw.encode(), AGENT, (address,))


def moved(hours: float) -> str:
    """The resolution due time after waiting `hours` of business time (all on day one)."""
    return iso(TUESDAY_NEXT + timedelta(hours=hours))


# -- ending a wait: every path -----------------------------------------------------------

def test_the_customers_reply_ends_the_wait(desk: Desk) -> None:
    number = medium_ticket(desk)
    answer(desk, number, 1, "--status", "waiting")  # Tuesday 11:00
    customer_reply(desk, number, 5)  # Tuesday 15:00: 4 business hours waited
    row = desk.ticket(number)
    assert (row.status, row.resolution_due) == ("open", moved(4))


def test_an_agents_mailed_status_command_ends_the_wait(desk: Desk) -> None:
    number = medium_ticket(desk)
    assert desk.command("status", number, "waiting", hours=1) == 0
    agent_mail(desk, number, 3, "#status open")
    row = desk.ticket(number)
    assert (row.status, row.resolution_due) == ("open", moved(2))


def test_the_status_command_ends_the_wait_and_resolving_stops_both_clocks(desk: Desk) -> None:
    number = medium_ticket(desk)
    assert desk.command("status", number, "waiting", hours=1) == 0
    assert desk.command("status", number, "resolved", hours=4) == 0
    row = desk.ticket(number)
    assert row.resolution_due == moved(3)
    # Resolved before any answer: the customer was told; nothing is left to answer.
    assert (row.resolved_at, row.first_response_at) == (iso(desk.at(4)), iso(desk.at(4)))
    assert desk.command("status", number, "open", hours=6) == 0  # reopened
    assert desk.ticket(number).resolved_at == iso(desk.at(4))  # the first resolution counts


def test_an_answer_that_opens_the_ticket_again_ends_the_wait(desk: Desk) -> None:
    number = medium_ticket(desk)
    answer(desk, number, 1, "--status", "waiting")
    answer(desk, number, 2)  # still waiting: the clock stays paused, nothing moves
    assert desk.ticket(number).resolution_due == iso(TUESDAY_NEXT)
    answer(desk, number, 6, "--status", "open")
    assert desk.ticket(number).resolution_due == moved(5)


def test_the_sweep_closing_a_silent_ticket_ends_the_wait(desk: Desk) -> None:
    number = medium_ticket(desk)
    answer(desk, number, 1, "--status", "waiting")  # Tuesday 1 December, 11:00
    fortnight = 14 * 24 + 1  # the sweep closes it: Tuesday 15 December, 11:00
    assert desk.sweep(fortnight)["close"] == 1
    row = desk.ticket(number)
    # Ten business days waited: due Tuesday 22 December 10:00; closed a week before it.
    assert row.status == "closed"
    assert row.resolution_due == iso(datetime(2026, 12, 22, 10, 0, tzinfo=UTC))
    assert row.resolved_at == iso(desk.at(fortnight))
    assert desk.breaches(number) == []


def test_while_waiting_the_resolution_is_never_missed(desk: Desk) -> None:
    number = medium_ticket(desk)
    answer(desk, number, 1, "--status", "waiting")
    week = 7 * 24 + 2  # past the due time, still waiting (marked waiting-on-customer)
    assert "sla_breach_resolution" not in desk.sweep(week)
    customer_reply(desk, number, week)  # Tuesday 8 December 12:00: 41 business hours
    row = desk.ticket(number)
    assert row.resolution_due == iso(datetime(2026, 12, 15, 11, 0, tzinfo=UTC))
    assert "sla_breach_resolution" not in desk.sweep(week + 1)
    assert "sla_breach_resolution" not in desk.sweep(14 * 24)  # Tuesday 15, 10:00
    assert desk.sweep(14 * 24 + 2)["sla_breach_resolution"] == 1  # Tuesday 15, 12:00


# -- the first response: every way an agent answers ------------------------------------------

def test_the_reply_command_is_the_first_response(desk: Desk) -> None:
    number = medium_ticket(desk)
    answer(desk, number, 1)
    answer(desk, number, 3)
    assert desk.ticket(number).first_response_at == iso(T0 + timedelta(hours=1))


def test_an_agents_answer_by_mail_is_the_first_response_and_a_comment_is_not(
        desk: Desk) -> None:
    number = medium_ticket(desk)
    agent_mail(desk, number, 1, "Internal: looks like the PDF worker.", comment=True, tag="c")
    assert desk.ticket(number).first_response_at is None
    agent_mail(desk, number, 2, "Hello Ann, we are looking into it.", tag="a")
    assert desk.ticket(number).first_response_at == iso(T0 + timedelta(hours=2))


def test_a_proven_staff_answer_in_the_thread_is_the_first_response(desk: Desk) -> None:
    number = medium_ticket(desk)
    desk.at(1.5)
    raw = (f"From: Kim Staff <kim@healthsync.com>\r\nTo: ann@example.org\r\n"
           f"Subject: Re: [{number}] Export to PDF fails\r\n"
           f"Message-ID: <kim1@healthsync.com>\r\n"
           f"Authentication-Results: {OUR_MTA}; dmarc=pass (p=reject dis=none)"
           " header.from=healthsync.com\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n"
           "Hi Ann, a fix is on its way.\r\n")
    desk.deliver(raw.encode(), "kim@healthsync.com")
    row = desk.ticket(number)
    assert (row.status, row.first_response_at) == ("open", iso(T0 + timedelta(hours=1.5)))


def test_the_customers_confirmation_closes_without_moving_the_first_resolution(
        desk: Desk) -> None:
    number = medium_ticket(desk)
    assert desk.command("status", number, "resolved", hours=2) == 0
    customer_reply(desk, number, 5, "Yes, that fixed it, thanks!")
    row = desk.ticket(number)
    assert (row.status, row.resolved_at) == ("closed", iso(T0 + timedelta(hours=2)))


# -- the promise in the acknowledgement ------------------------------------------------------

@pytest.mark.parametrize(("sla", "words"), [
    ({}, "We will reply within 24 hours."),
    ({"medium": "2bd"}, "We will reply within 2 business days."),
    ({"medium": 0.5}, "We will reply within 30 minutes."),
    ({"plus": {"medium": "4bh"}}, "We will reply within 4 business hours."),
])
def test_the_acknowledgement_states_the_first_response_target(
        tmp_path: Path, sla: dict[str, object], words: str) -> None:
    desk = Desk(tmp_path, extra={"sla": sla})
    try:
        desk.customer("ann@example.org", Tier.PLUS)
        number = desk.open()
        [ack] = [m for m in desk.shown(number)["messages"] if m["direction"] == "outbound"]
        assert words in ack["text"]
        assert "Priority: medium" in ack["text"]
    finally:
        desk.close()


def test_decide_shows_the_tier_and_the_due_times_a_new_ticket_would_get(
        desk: Desk, capsys: pytest.CaptureFixture[str]) -> None:
    desk.customer("vip@example.org", Tier.PREMIUM)
    path = desk.config.data_dir.parent / "vip.eml"
    path.write_bytes(outlook("vip@example.org", "URGENT: cannot upload documents", "Help.",
                             "<vip@example.org>"))
    capsys.readouterr()
    assert desk.command("decide", str(path), "--json", hours=0) == 0
    new = json.loads(capsys.readouterr().out)["new_ticket"]
    assert (new["priority"], new["tier"]) == ("high", "premium")
    assert (new["first_response_due"], new["resolution_due"]) == (
        iso(T0 + timedelta(hours=2)), iso(T0 + timedelta(hours=24)))
