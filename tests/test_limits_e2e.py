"""Issue 13, points 3 and 4, end to end: the real `maildaemon serve`, mail over SMTP on
127.0.0.1, what we sent read from the outbound maildir and the outbox.

- 50 header-less robot mails produce no more than the capped replies and one flood ticket,
  and nothing is dropped;
- a robot without RFC 3834 headers that answers our acknowledgement gets nothing back;
- the same text to support@ and tech@ as two messages makes one ticket.

One daemon (default limits, a team to notify) for the module; each test writes from its
own addresses. "Settled": the spool is empty and the outbox has nothing pending, so a check
that nothing (more) was sent cannot pass while a reply is still queued.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any

import pytest

from tests.conftest import DOMAIN, Installation, wait_until

pytestmark = pytest.mark.slow

TEAM = "dora@healthsync.com"


@pytest.fixture(scope="module")
def inst(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    made = Installation(tmp_path_factory.mktemp("limits"), f'[teams]\ndefault = ["{TEAM}"]\n')
    made.start()
    yield made
    made.kill()


def unique(local: str, domain: str = "example.org") -> str:
    return f"{local}-{uuid.uuid4().hex[:8]}@{domain}"


def outbox(inst: Installation) -> list[dict[str, Any]]:
    return list(json.loads(inst.cli("outbox", "ls", "--all", "--json").stdout))


def settle(inst: Installation, timeout: float = 60) -> list[dict[str, Any]]:
    """Every message processed and every reply it queued delivered; the outbox rows."""
    inst.wait_spool_empty(timeout)

    def settled() -> tuple[list[dict[str, Any]]] | None:
        rows = outbox(inst)
        return (rows,) if all(r["status"] != "pending" for r in rows) else None
    return list(wait_until(settled, timeout, "a settled outbox")[0])


def delivered_to(inst: Installation, address: str) -> list[EmailMessage]:
    found = [message_from_bytes(raw, policy=default) for raw in inst.outbound()]
    return [m for m in found if str(m["To"]) == address]  # type: ignore[misc]


def tickets_of(inst: Installation, requester: str) -> list[dict[str, Any]]:
    return [t for t in inst.tickets() if t["requester"] == requester]


def inbound(shown: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in shown["messages"] if m["direction"] == "inbound"]


def text_of(msg: EmailMessage) -> str:
    body = msg.get_body(("plain",))
    assert body is not None
    return " ".join(body.get_content().split())


# -- a robot that sets no header --------------------------------------------------------------

def alert(sender: str, i: int) -> bytes:
    """A monitoring script's mail: plain text, no Auto-Submitted, Precedence or List-*."""
    return (f"From: {sender}\r\nTo: support@{DOMAIN}\r\nSubject: [ALERT] backup job {i} "
            f"failed\r\nMessage-ID: <job{i}.{uuid.uuid4().hex}@backup.example>\r\n"
            "Date: Sat, 28 Nov 2026 03:00:00 +0000\r\n\r\n"
            f"Backup job {i} on host db-{i % 7} failed with exit code 2.\r\n").encode()


def test_fifty_header_less_robot_mails_make_capped_replies_and_one_flood_ticket(
        inst: Installation) -> None:
    robot = unique("backup", "backup.example")
    with inst.smtp() as client:  # one connection, fifty transactions, as a script sends
        for i in range(50):
            client.sendmail(robot, [f"support@{DOMAIN}"], alert(robot, i))
    rows = settle(inst)

    mine = tickets_of(inst, robot)
    flood = [t for t in mine if t["subject"] == f"Many new requests from {robot}"]
    assert len(mine) == 21 and len(flood) == 1  # [flood] max_new_tickets = 20, then one
    numbers = [t["number"] for t in mine]
    with sqlite3.connect(f"{(inst.tmp / 'data' / 'maildaemon.sqlite3').as_uri()}?mode=ro",
                         uri=True) as db:  # the counts over 21 tickets, read at once
        stored = db.execute("SELECT count(*) FROM messages m JOIN tickets t"
                            " ON t.id = m.ticket_id WHERE t.requester = ?"
                            " AND m.direction = 'inbound'", (robot,)).fetchone()[0]
        limited = [n for (n,) in db.execute(
            "SELECT DISTINCT t.number FROM events e JOIN tickets t ON t.id = e.ticket_id"
            " WHERE t.requester = ? AND e.type = 'rate_limit'", (robot,))]
    assert stored == 50  # nothing dropped
    shown = inst.show(flood[0]["number"])
    assert len(inbound(shown)) == 30
    flood_events = [e for e in shown["events"] if e["type"] == "flood"]
    assert len(flood_events) == 30  # the flood ticket opening, then each message joining
    assert flood_events[0]["detail"].startswith(f"20 new tickets from {robot} within 10 "
                                                "minutes: a flood ticket opens")

    # The capped replies: autoreply.max_per_hour acknowledgements, and nothing more (the
    # flood ticket's one answer falls under the same limit); the robot got no other mail.
    to_robot = [r for r in rows if r["rcpt_to"] == robot]
    assert [r["kind"] for r in to_robot] == ["ack"] * 5
    assert len(delivered_to(inst, robot)) == 5
    assert len(limited) == 16  # tickets 6 to 20 and the flood ticket: each limit an event
    # The team hears of each ticket once, and of nothing that joins the flood ticket.
    notices = [r for r in rows if r["rcpt_to"] == TEAM and r["number"] in numbers]
    assert [r["kind"] for r in notices] == ["notify_new_ticket"] * 21


def test_a_header_less_robot_answering_our_acknowledgement_gets_nothing_back(
        inst: Installation) -> None:
    customer = unique("pat")
    opening = EmailMessage()
    opening["From"], opening["To"] = f"Pat Doe <{customer}>", f"billing@{DOMAIN}"
    opening["Subject"], opening["Message-ID"] = "Refund for order 1042", f"<{uuid.uuid4()}@x.org>"
    opening.set_content("Please refund order 1042, it arrived broken.\n\nPat\n")
    inst.send(opening)
    settle(inst)
    [ack] = delivered_to(inst, customer)
    # The customer's mail server answers with an "autoresponder" that sets no header.
    echo = EmailMessage()
    echo["From"], echo["To"] = customer, str(ack["From"])
    echo["Subject"] = f"Re: {ack['Subject']}"
    echo["Message-ID"], echo["In-Reply-To"] = f"<{uuid.uuid4()}@x.org>", str(ack["Message-ID"])
    echo["References"] = str(ack["Message-ID"])
    echo.set_content("Thank you for your email. I am away until Monday and will read it "
                     "then.\n")
    inst.send(echo)
    settle(inst)
    assert len(delivered_to(inst, customer)) == 1  # the acknowledgement only: no ping-pong
    [ticket] = tickets_of(inst, customer)
    shown = inst.show(ticket["number"])
    assert len(inbound(shown)) == 2
    [limit] = [e for e in shown["events"] if e["type"] == "ack_limit"]
    assert "confirmed a message less than an hour ago" in limit["detail"]


# -- the same issue sent twice ----------------------------------------------------------------

def gmail_to(address: str, sender: str) -> bytes:
    """Gmail on the web: multipart/alternative."""
    return (f"MIME-Version: 1.0\r\nDate: Sat, 28 Nov 2026 09:58:00 +0100\r\n"
            f"Message-ID: <CAJ{uuid.uuid4().hex}@mail.gmail.com>\r\n"
            "Subject: Lab results not showing in the app\r\n"
            f"From: Mia Wong <{sender}>\r\nTo: {address}\r\n"
            "Content-Type: multipart/alternative; boundary=\"0000000000007f3a\"\r\n\r\n"
            "--0000000000007f3a\r\nContent-Type: text/plain; charset=\"UTF-8\"\r\n\r\n"
            "Hello,\r\n\r\nmy blood test from Tuesday is not in the app. The clinic says it\r\n"
            "was sent.\r\n\r\nThanks,\r\nMia\r\n\r\n"
            "--0000000000007f3a\r\nContent-Type: text/html; charset=\"UTF-8\"\r\n\r\n"
            '<div dir="ltr">Hello,<div><br></div><div>my blood test from Tuesday is not in '
            "the app. The clinic says it was sent.</div><div><br></div><div>Thanks,</div>"
            "<div>Mia</div></div>\r\n\r\n--0000000000007f3a--\r\n").encode()


def outlook_to(address: str, sender: str) -> bytes:
    """The same words from Outlook minutes later, to another address: another Message-ID,
    other MIME, the lines wrapped elsewhere, a signature."""
    return (f"From: Mia Wong <{sender}>\r\nTo: \"tech@{DOMAIN}\" <{address}>\r\n"
            "Subject: Lab results not showing in the app\r\n"
            "Date: Sat, 28 Nov 2026 10:04:11 +0100\r\n"
            f"Message-ID: <AM9PR07MB{uuid.uuid4().hex.upper()}@AM9PR07MB.eurprd07.prod."
            "outlook.com>\r\nContent-Language: en-US\r\nX-MS-Has-Attach: \r\n"
            "Content-Type: text/plain; charset=\"us-ascii\"\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\nMIME-Version: 1.0\r\n\r\n"
            "Hello,\r\n\r\nmy blood test from Tuesday is not in the app. The clinic says it =\r\n"
            "was sent.\r\n\r\nThanks,\r\nMia\r\n\r\n-- \r\nMia Wong\r\n+1 555 0100\r\n").encode()


def test_the_same_text_to_support_and_tech_as_two_messages_makes_one_ticket(
        inst: Installation) -> None:
    mia = unique("mia")
    inst.send(gmail_to(f"support@{DOMAIN}", mia), sender=mia, rcpts=[f"support@{DOMAIN}"])
    inst.send(outlook_to(f"tech@{DOMAIN}", mia), sender=mia, rcpts=[f"tech@{DOMAIN}"])
    rows = settle(inst)

    [ticket] = tickets_of(inst, mia)  # one ticket, in the queue the first message reached
    assert ticket["queue"] == "support"
    shown = inst.show(ticket["number"])
    assert [m["to"] for m in inbound(shown)] == [[f"support@{DOMAIN}"], [f"tech@{DOMAIN}"]]
    [event] = [e for e in shown["events"] if e["type"] == "duplicate"]
    assert event["detail"].endswith(f"to tech@{DOMAIN}: the same request as the one that "
                                    f"opened {ticket['number']}, added to it")
    # No second acknowledgement: one ack, then the confirmation that says where it went.
    assert [r["kind"] for r in rows if r["rcpt_to"] == mia] == ["ack", "duplicate_received"]
    ack, notice = sorted(delivered_to(inst, mia), key=lambda m: str(m["Date"]))
    assert str(notice["Subject"]) == f"[{ticket['number']}] Lab results not showing in the app"
    assert f"which is already ticket {ticket['number']} with our support team" in \
        text_of(notice)
    assert "added it to that ticket instead of opening a second one" in text_of(notice)
    assert str(notice["In-Reply-To"]).endswith("outlook.com>")
    assert str(notice["Auto-Submitted"]) == "auto-replied"
    # The team read the text once.
    assert [r["kind"] for r in rows if r["rcpt_to"] == TEAM
            and r["number"] == ticket["number"]] == ["notify_new_ticket"]
