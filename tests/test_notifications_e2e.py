"""Issue 16, points 1 and 6, end to end: the real `maildaemon serve`, mail over SMTP on
127.0.0.1, the team's notifications read from the outbound maildir.

One daemon for the module; each test writes as its own customer, and finds its mail by the
ticket number in the subject.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default

import pytest

from maildaemon.policy.replyaddress import made_for, read_reply_address
from maildaemon.worker import load_secret
from tests.conftest import DOMAIN, Installation, wait_until
from tests.outbound_sink import wait_outbox_settled

pytestmark = pytest.mark.slow

BILLING = ("ben@healthsync.com", "bea@healthsync.com")
DEFAULT = "dora@healthsync.com"
OPS = "ops@healthsync.com"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
TEAMS = f"""
[teams]
billing = ["{BILLING[0]}", "{BILLING[1]}"]
default = ["{DEFAULT}"]
ops = ["{OPS}"]
[spool]
max_attempts = 1
"""


@pytest.fixture(scope="module")
def teams_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    inst = Installation(tmp_path_factory.mktemp("teams"), TEAMS)
    inst.start()
    yield inst
    inst.kill()


def customer() -> str:
    return f"ann-{uuid.uuid4().hex[:8]}@example.org"


def write(sender: str, body: str, subject: str = "Charged twice for March",
          to: str = f"billing@{DOMAIN}", pdf: bool = False, **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f"Ann Smith <{sender}>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@example.org>"
    msg["Date"] = "Sat, 28 Nov 2026 10:00:00 +0000"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    if pdf:
        msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="invoice.pdf")
    return msg


def received(inst: Installation) -> list[EmailMessage]:
    return [message_from_bytes(raw, policy=default)  # type: ignore[misc]
            for raw in inst.outbound()]


def to_addr(msg: EmailMessage) -> str:
    return str(msg["To"].addresses[0].addr_spec)


def plain(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


def ticket_of(inst: Installation, sender: str) -> str:
    found = wait_until(lambda: [t["number"] for t in inst.tickets()
                                if t["requester"] == sender], 30, f"{sender}'s ticket")
    return str(found[0])


def notices(inst: Installation, number: str, kind: str) -> list[EmailMessage]:
    return [m for m in received(inst)
            if str(m["Subject"]).startswith(f"[{number}] {kind}:")]


def send_and_settle(inst: Installation, msg: EmailMessage) -> None:
    inst.send(msg)
    inst.wait_spool_empty(30)
    wait_outbox_settled(inst)


def test_a_customers_mail_reaches_each_billing_agent_with_its_file(
        teams_daemon: Installation) -> None:
    inst, ann = teams_daemon, customer()
    inst.send(write(ann, "We were charged twice for March.\nInvoice 4411.", pdf=True))
    number = ticket_of(inst, ann)
    notes = wait_until(lambda: len(found := notices(inst, number, "New ticket")) == 2
                       and found, 30, "two notifications")
    assert sorted(to_addr(m) for m in notes) == sorted(BILLING)
    secret = load_secret(inst.tmp / "data")
    for note in notes:
        assert note["Auto-Submitted"] == "auto-generated"
        tagged = read_reply_address(note["Reply-To"].addresses[0].addr_spec, DOMAIN)
        assert tagged is not None and tagged.number == number
        assert made_for(secret, tagged, (*BILLING, DEFAULT)) == to_addr(note)
        assert "We were charged twice for March.\nInvoice 4411." in plain(note)
        assert [(p.get_filename(), p.get_content()) for p in note.iter_attachments()] == [
            ("invoice.pdf", PDF)]
    wait_outbox_settled(inst)
    ours = [m for m in received(inst) if number in str(m["Subject"])]
    assert sorted(to_addr(m) for m in ours) == sorted([*BILLING, ann])  # the ack to Ann
    assert [m for m in ours if to_addr(m) == ann][0]["Reply-To"] is None


def test_a_reply_of_the_customer_brings_the_earlier_messages(
        teams_daemon: Installation) -> None:
    inst, ann = teams_daemon, customer()
    send_and_settle(inst, write(ann, "First: charged twice for March."))
    number = ticket_of(inst, ann)
    [ack] = [m for m in received(inst) if to_addr(m) == ann]
    reply = write(ann, "Second: the charge is 49.00 EUR.\n\n"
                  f"On Sat, 28 Nov 2026 at 10:00, Billing team <billing@{DOMAIN}> wrote:\n"
                  f"> Your request is now ticket {number}\n",
                  subject=f"Re: [{number}] Charged twice for March",
                  In_Reply_To=str(ack["Message-ID"]), References=str(ack["Message-ID"]))
    inst.send(reply)
    notes = wait_until(lambda: len(found := notices(inst, number, "Customer reply")) == 2
                       and found, 30, "the reply's notifications")
    text = plain(notes[0])
    assert "Second: the charge is 49.00 EUR." in text
    assert "> Your request is now ticket" not in text  # the quoted history is cut
    assert f"{ann}: First: charged twice for March." in text.split("newest first:")[1]


def test_automatic_mail_notifies_no_one(teams_daemon: Installation) -> None:
    inst, ann = teams_daemon, customer()
    send_and_settle(inst, write(ann, "Charged twice."))
    number = ticket_of(inst, ann)
    before = len(received(inst))
    note = notices(inst, number, "New ticket")[0]
    # Ann's autoresponder answers our acknowledgement; Ben's answers the notification.
    send_and_settle(inst, write(ann, "I am away until Monday.", Auto_Submitted="auto-replied",
                                subject=f"Out of office: [{number}] Charged twice"))
    away = write(BILLING[0], "I am on leave until Monday.", Auto_Submitted="auto-replied",
                 subject=f"Automatic reply: {note['Subject']}",
                 In_Reply_To=str(note["Message-ID"]), to=str(note["Reply-To"]))
    send_and_settle(inst, away)
    assert len(received(inst)) == before
    show = inst.show(number)
    assert show["status"] == "new"  # nothing changed the ticket
    people = [(m["direction"], m["from"]) for m in show["messages"] if not m["automated"]]
    assert people == [("inbound", ann), ("outbound", f"billing@{DOMAIN}")]  # and the ack


def test_two_tickets_never_carry_each_others_text(teams_daemon: Installation) -> None:
    inst, ann, carl = teams_daemon, customer(), customer()
    send_and_settle(inst, write(ann, "PRIVATE-ANN: my account 1234"))
    send_and_settle(inst, write(carl, "PRIVATE-CARL: my account 9876", subject="Refund"))
    first, second = ticket_of(inst, ann), ticket_of(inst, carl)
    send_and_settle(inst, write(carl, "PRIVATE-CARL again", subject=f"Re: [{second}] Refund"))
    for msg in received(inst):
        text = msg.as_string()
        if first in str(msg["Subject"]):
            assert "PRIVATE-CARL" not in text
        if second in str(msg["Subject"]):
            assert "PRIVATE-ANN" not in text
    assert len(notices(inst, second, "Customer reply")) == 2


def test_a_held_message_is_told_to_ops(teams_daemon: Installation) -> None:
    inst = teams_daemon
    with sqlite3.connect(inst.tmp / "data" / "maildaemon.sqlite3") as db:
        db.execute("CREATE TRIGGER IF NOT EXISTS poison BEFORE INSERT ON messages"
                   " WHEN NEW.subject LIKE '%poison pill%'"
                   " BEGIN SELECT RAISE(ABORT, 'refused by the poison trigger'); END")
    inst.send(write(customer(), "secret body text", subject="A poison pill"))
    alert = wait_until(lambda: [m for m in received(inst) if to_addr(m) == OPS], 30,
                       "the ops alert")[0]
    [held] = [row for row in json.loads(inst.cli("spool", "ls", "--json").stdout)
              if row["state"] == "held"]
    assert str(alert["Subject"]) == f"[maildaemon] Held message {held['spool_id']}"
    text = plain(alert)
    assert "Subject:         A poison pill" in text
    assert f"maildaemon spool retry {held['spool_id']}" in text
    assert "secret body text" not in alert.as_string()
    assert not [m for m in received(inst) if to_addr(m) in (*BILLING, DEFAULT)
                and "poison" in str(m["Subject"])]
