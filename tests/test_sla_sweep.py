"""Issue 12, point 4: the sweep finds each missed SLA target once, records it on the ticket
and alerts the queue's managers with one mail, however often it runs and after a crash.

Through the real worker, sweep and store on real SQLite files; the clock moved by hand.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import Any

import pytest

from maildaemon import sla_sweep
from maildaemon.domain import Priority, Tier
from maildaemon.policy.sla import Kind, due_times
from maildaemon.render import Renderer
from maildaemon.store import TicketCommands, iso
from maildaemon.store.sla import OVERDUE
from maildaemon.sweeps import Sweeper
from maildaemon.worker import load_secret
from tests.sla_desk import MANAGERS, T0, Desk

# High under the subject rules before issue 12 ("urgent") and after ("cannot upload").
URGENT = "URGENT: cannot upload documents"


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    made = Desk(tmp_path)
    yield made
    made.close()


def raw_of(desk: Desk, row: dict[str, Any]) -> bytes:
    found = desk.store.conn.execute("SELECT raw FROM outbox_raw WHERE outbox_id = ?",
                                    (row["id"],)).fetchone()
    return bytes(found[0])


def test_a_missed_first_response_is_alerted_once_however_often_the_sweep_runs(
        desk: Desk) -> None:
    desk.customer("vip@example.org", Tier.PREMIUM)
    number = desk.open(URGENT, "vip@example.org")
    row = desk.ticket(number)
    assert (row.priority, row.tier) == ("high", "premium")
    assert row.first_response_due == iso(T0 + timedelta(hours=2))  # premium high: 2 h
    assert desk.sweep(1.9)["sla_breach_first_response"] == 0
    assert desk.alerts() == []
    assert desk.sweep(2.5)["sla_breach_first_response"] == 1
    for hours in (2.5, 2.5, 3, 7, 20):  # again and again: nothing more
        assert desk.sweep(hours)["sla_breach_first_response"] == 0
    [alert] = desk.alerts()
    assert (alert["number"], alert["rcpt_to"]) == (number, MANAGERS[0])
    assert desk.breaches(number) == [
        f"first response target missed: due {iso(T0 + timedelta(hours=2))}, 30 minutes late"]
    message = message_from_bytes(raw_of(desk, alert), policy=default)
    assert message["Cc"] == MANAGERS[1]  # one mail to all the managers
    assert message["Subject"] == f"[{number}] SLA breach: first response 30 minutes late"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["From"].addresses[0].addr_spec == "support@healthsync.com"
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    for fact in (number, URGENT, "Priority:  high", "vip@example.org, premium tier",
                 "first response within 2 hours", "Late:      30 minutes"):
        assert fact in text, fact
    # Not a message of the conversation: the customer's view of the ticket is unchanged.
    assert [m["direction"] for m in desk.shown(number)["messages"]] == ["inbound", "outbound"]


def test_a_missed_resolution_is_alerted_once_and_apart(desk: Desk) -> None:
    number = desk.open(URGENT)
    row = desk.ticket(number)
    due = due_times(Priority(row.priority), Tier.FREE, T0, desk.sla)
    assert row.resolution_due == iso(due.resolution)
    with desk.store.transaction():  # answered in time: only the resolution can be missed
        desk.store.record_first_response(row.id, iso(T0 + timedelta(minutes=30)))
    late = (due.resolution - T0) / timedelta(hours=1) + 1
    assert desk.sweep(late)["sla_breach_resolution"] == 1
    assert desk.sweep(late + 5)["sla_breach_resolution"] == 0
    assert [a["number"] for a in desk.alerts()] == [number]
    assert desk.breaches(number) == [
        f"resolution target missed: due {iso(due.resolution)}, 1 hour late"]


def test_answered_and_resolved_in_time_nothing_is_missed(desk: Desk) -> None:
    number = desk.open(URGENT)
    body = desk.config.data_dir.parent / "answer.txt"
    body.write_text("We are on it.\n")
    assert desk.command("reply", number, "--from", "sam@healthsync.com", "--body-file",
                        str(body), hours=1) == 0
    assert desk.command("status", number, "resolved", hours=3) == 0
    done = desk.sweep(200)
    assert not [action for action in done if action.startswith("sla_breach")], done
    assert desk.breaches(number) == [] and desk.alerts() == []
    row = desk.ticket(number)
    assert (row.first_response_at, row.resolved_at) == (iso(desk.at(1)), iso(desk.at(3)))


def test_without_managers_the_breach_is_an_event_and_the_log_says_so_once(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    desk = Desk(tmp_path, managers=False)
    sla_sweep._told_without_managers.clear()  # once per process: earlier tests told it
    try:
        first, second = desk.open(URGENT), desk.open(URGENT, "bob@example.org")
        with caplog.at_level(logging.INFO, logger="maildaemon.sweeps"):
            assert desk.sweep(5)["sla_breach_first_response"] == 2
            desk.sweep(6)
        assert desk.alerts() == []
        assert len(desk.breaches(first)) == len(desk.breaches(second)) == 1
        told = [r for r in caplog.records if "no [managers] for queue support" in r.message]
        assert len(told) == 1
    finally:
        desk.close()


def test_a_manager_who_takes_part_in_the_ticket_is_not_mailed(desk: Desk) -> None:
    desk.open(URGENT, MANAGERS[0])
    desk.sweep(5)
    [alert] = desk.alerts()
    assert alert["rcpt_to"] == MANAGERS[1]


class CrashOnce:
    """The store, but the first alert queued raises, as a crash mid-sweep would stop it."""

    def __init__(self, store: TicketCommands) -> None:
        self.store, self.crashed = store, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def enqueue(self, *args: Any) -> None:
        if not self.crashed:
            self.crashed = True
            raise RuntimeError("killed mid-sweep")
        self.store.enqueue(*args)


def test_a_crash_mid_sweep_leaves_the_breach_to_the_next_sweep_and_alerts_once(
        desk: Desk) -> None:
    number = desk.open(URGENT)
    renderer = Renderer(desk.config.mail.domain, load_secret(desk.config.data_dir))
    crashing = Sweeper(desk.config, CrashOnce(desk.store), renderer)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError):
        crashing.run(desk.at(5))
    assert desk.breaches(number) == [] and desk.alerts() == []  # rolled back, all of it
    assert desk.sweep(5)["sla_breach_first_response"] == 1
    desk.sweep(6)
    assert len(desk.alerts()) == 1 and len(desk.breaches(number)) == 1


def test_the_sweep_reads_only_the_partial_indexes(desk: Desk) -> None:
    for kind, index in ((Kind.FIRST_RESPONSE, "tickets_response_due"),
                        (Kind.RESOLUTION, "tickets_resolution_due")):
        plan = " ".join(row[3] for row in desk.store.conn.execute(
            "EXPLAIN QUERY PLAN " + OVERDUE[kind], (iso(T0), 10)))
        assert plan.startswith(f"SEARCH tickets USING INDEX {index} "), plan


def test_the_teams_notifications_name_the_tier_the_ticket_opened_with(desk: Desk) -> None:
    desk.customer("vip@example.org", Tier.PREMIUM)
    number = desk.open(URGENT, "vip@example.org")
    desk.customer("vip@example.org", Tier.FREE)  # a later change leaves the ticket's tier
    desk.at(1)
    desk.deliver(b"From: vip@example.org\r\nTo: support@healthsync.com\r\n"
                 + f"Subject: Re: [{number}] {URGENT}\r\n".encode()
                 + b"Message-ID: <again@example.org>\r\n\r\nAny news?\r\n", "vip@example.org")
    notes = [r for r in desk.store.reads.outbox_rows(True) if r["kind"].startswith("notify_")]
    assert [r["kind"] for r in notes] == ["notify_new_ticket", "notify_customer_reply"]
    for note in notes:
        assert b"Customer:  premium tier" in raw_of(desk, note)
