"""Bounces and out-of-office replies over real SMTP to the real `maildaemon serve`.

The customer writes; we acknowledge; an agent asks a question and the ticket waits for
the customer. Then either an out-of-office answers (it changes nothing: the day-3
reminder still comes), or the acknowledgement bounces with 5.1.1 (the address is marked,
the reminder is withheld, the ticket goes back to agents instead of closing as silent,
and the customer's next mail clears the mark). The daemon's worker runs on the real
clock; the agent's command and the sweep are given their moment with `--now`, as ops
would run them.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import DOMAIN, Installation, mail, wait_until
from tests.test_threading_e2e import open_ticket, settle

pytestmark = pytest.mark.slow


def at(t0: datetime, days: float) -> str:
    return (t0 + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def outbox(inst: Installation) -> list[dict[str, Any]]:
    return list(json.loads(inst.cli("outbox", "ls", "--all", "--json").stdout))


def sent_of(inst: Installation, kind: str, to: str) -> list[dict[str, Any]]:
    return [r for r in outbox(inst) if r["kind"] == kind and r["rcpt_to"] == to]


def waiting_ticket(inst: Installation, t0: datetime) -> tuple[str, str]:
    """A customer's ticket, acknowledged, then waiting on them after an agent's question."""
    customer = f"pat-{uuid.uuid4().hex[:8]}@example.org"
    number = open_ticket(inst, customer, subject="Export to PDF fails")["number"]
    body = inst.tmp / f"{number}.txt"
    body.write_text("Which browser do you use?\n\nSam")
    inst.cli("reply", number, "--from", "sam@healthsync.com", "--body-file", str(body),
             "--status", "waiting", "--now", at(t0, 0.01))
    settle(inst)
    assert inst.show(number)["status"] == "waiting"
    return number, customer


def dsn(ack: dict[str, Any], customer: str, status: str = "5.1.1") -> bytes:
    """A Postfix bounce of our acknowledgement, returning its headers."""
    action, words = ("failed", "550 5.1.1 <{0}>: Recipient address rejected: User unknown") \
        if status.startswith("5") else ("delayed", "450 4.4.1 Connection timed out")
    return f"""\
Return-Path: <>
From: MAILER-DAEMON@mx.example.org (Mail Delivery System)
To: support@{DOMAIN}
Subject: Undelivered Mail Returned to Sender
Message-ID: <{uuid.uuid4().hex}@mx.example.org>
Date: Tue, 01 Dec 2026 09:00:00 +0000
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
 boundary="B0UND"

--B0UND
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.example.org.
I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

--B0UND
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.org
Arrival-Date: Tue,  1 Dec 2026 08:59:58 +0000 (UTC)

Final-Recipient: rfc822; {customer}
Original-Recipient: rfc822;{customer}
Action: {action}
Status: {status}
Diagnostic-Code: smtp; {words.format(customer)}

--B0UND
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

From: HealthSync Support <support@{DOMAIN}>
To: {customer}
Subject: [{ack['number']}] Export to PDF fails
Message-ID: {ack['message_id']}
Auto-Submitted: auto-replied

--B0UND--
""".replace("\n", "\r\n").encode()


def test_an_out_of_office_to_a_waiting_ticket_changes_nothing(daemon: Installation) -> None:
    t0 = datetime.now(UTC)
    number, customer = waiting_ticket(daemon, t0)
    before = daemon.show(number)
    [question] = sent_of(daemon, "agent_reply", customer)
    ooo = mail(sender=customer, subject=f"Automatic reply: [{number}] Export to PDF fails",
               In_Reply_To=question["message_id"],
               Auto_Submitted="auto-replied", X_Auto_Response_Suppress="All",
               body="I am out of the office until Monday and will read your mail then.")
    daemon.send(ooo)
    settle(daemon)
    after = daemon.show(number)
    assert (after["status"], after["waiting_on_customer"], after["resolution_due"]) == \
        (before["status"], before["waiting_on_customer"], before["resolution_due"])
    [stored] = [m for m in after["messages"] if m["automated"]]
    assert stored["automated"] == "auto_submitted"
    assert any(e["type"] == "automated" and e["detail"].startswith("auto_reply")
               for e in after["events"])
    assert len(outbox(daemon)) == 2  # the ack and the question: nothing answers it
    assert after["delivery_failed"] is False
    # The timers run from the agent's question as before: the reminder comes on day 3.
    assert "1 remind" in daemon.cli("sweep", "--now", at(t0, 3.1)).stdout
    assert len(sent_of(daemon, "reminder", customer)) == 1


def test_a_5_1_1_bounce_of_our_ack_marks_the_address_and_withholds_the_reminder(
        daemon: Installation) -> None:
    t0 = datetime.now(UTC)
    number, customer = waiting_ticket(daemon, t0)
    [ack] = sent_of(daemon, "ack", customer)
    with daemon.smtp() as client:  # a bounce comes with the null sender
        client.sendmail("", [f"support@{DOMAIN}"], dsn({**ack, "number": number}, customer))
    settle(daemon)

    shown = daemon.show(number)
    assert shown["delivery_failed"] is True
    assert [(u["address"], u["status"]) for u in shown["undeliverable"]] == [
        (customer, "5.1.1")]
    [bounce] = [e["detail"] for e in shown["events"] if e["type"] == "bounce"]
    assert bounce.startswith(f"5.1.1 {customer}: permanent failure: marked undeliverable")
    assert "User unknown" in bounce
    assert any(m["automated"] == "delivery_status" for m in shown["messages"])
    listed = json.loads(daemon.cli("tickets", "--delivery-failed", "--json").stdout)
    assert [t["number"] for t in listed] == [number]
    assert shown["status"] == "waiting"  # the bounce itself changes no status
    assert len(outbox(daemon)) == 2  # and answers nobody

    # Day 3: no reminder to an address that cannot receive it; agents take the ticket.
    out = daemon.cli("sweep", "--now", at(t0, 3.1)).stdout
    assert "1 hand_over" in out and "remind" not in out
    assert sent_of(daemon, "reminder", customer) == []
    shown = daemon.show(number)
    assert shown["status"] == "open"
    [handed] = [e["detail"] for e in shown["events"] if e["type"] == "delivery_failed"]
    assert handed.startswith(f"instead of the reminder: {customer} is undeliverable (5.1.1")
    # It is never closed as silent: an open ticket has no timers.
    assert "close" not in daemon.cli("sweep", "--now", at(t0, 15)).stdout
    assert daemon.show(number)["status"] == "open"
    assert [r["kind"] for r in outbox(daemon) if r["rcpt_to"] == customer] == [
        "ack", "agent_reply"]

    # An agent closes it: the closing notice and the survey are withheld too.
    daemon.cli("status", number, "closed", "--now", at(t0, 15.1))
    settle(daemon)
    assert [r["kind"] for r in outbox(daemon) if r["rcpt_to"] == customer] == [
        "ack", "agent_reply"]
    withheld = [e["detail"] for e in daemon.show(number)["events"]
                if e["type"] == "mail_withheld"]
    assert [w.split(" ")[0] for w in withheld] == ["status_closed", "survey"]

    # The customer writes again from the address: it works after all; the mark goes.
    daemon.send(mail(sender=customer, subject="New: upload stalls"))
    wait_until(lambda: len(daemon.tickets()) == 2, what="the customer's new ticket")
    settle(daemon)
    assert json.loads(daemon.cli("tickets", "--delivery-failed", "--json").stdout) == []
    assert daemon.show(number)["delivery_failed"] is False
    assert len(sent_of(daemon, "ack", customer)) == 2


def test_a_temporary_failure_is_recorded_only(daemon: Installation) -> None:
    t0 = datetime.now(UTC)
    number, customer = waiting_ticket(daemon, t0)
    [ack] = sent_of(daemon, "ack", customer)
    with daemon.smtp() as client:
        client.sendmail("", [f"support@{DOMAIN}"],
                        dsn({**ack, "number": number}, customer, status="4.4.1"))
    settle(daemon)
    shown = daemon.show(number)
    assert shown["delivery_failed"] is False
    [bounce] = [e["detail"] for e in shown["events"] if e["type"] == "bounce"]
    assert bounce.startswith(f"4.4.1 {customer}: temporary failure, recorded only")
    assert "1 remind" in daemon.cli("sweep", "--now", at(t0, 3.1)).stdout
