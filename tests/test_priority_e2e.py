"""Issue 12, points 2 and 7, end to end: the real `maildaemon serve`, mail over SMTP on
127.0.0.1, the customer directory loaded with `maildaemon customers set`, tickets read with
`show --json` and the acknowledgements from the outbound maildir.

One daemon for the module; each test writes as its own customers.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any

import pytest

from tests.conftest import DOMAIN, Installation, acks_to, header_of, wait_until
from tests.outbound_sink import wait_outbox_settled

pytestmark = pytest.mark.slow

OUTAGE_TEXT = """Hello,

since 08:40 the system is down for all three of our clinics: nobody can open a
patient chart. Please call me on 555-0100.

Best regards,
Dr. Ann Lee
Account type: Enterprise
"""
OUTAGE_HTML = """<div dir="ltr"><div>Hello,</div><div><br></div><div>since 08:40 the system is
down for all three of our clinics: nobody can open a patient chart. Please call me on
555-0100.</div><div><br></div><div>Best regards,<br>Dr. Ann Lee<br>Account type:
Enterprise</div></div>"""

BUG_TEXT = """Hi,

uploading a PDF does nothing.

**Steps to reproduce:**
1. Go to Documents
2. Click Upload
3. Choose a 2 MB PDF

**Browser:** Chrome 120
**OS:** Windows 11

Thanks,
Dev

Sent from my iPhone
"""


@pytest.fixture(scope="module")
def inst(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    made = Installation(tmp_path_factory.mktemp("priority"))
    made.start()
    yield made
    made.kill()


def customer(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}@clinic.example"


def gmail(sender: str, subject: str, text: str, html: str | None = None,
          to: str = f"support@{DOMAIN}") -> EmailMessage:
    """As Gmail sends it: multipart/alternative, the HTML part beside the text."""
    msg = EmailMessage()
    msg["From"] = f"Ann Lee <{sender}>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = f"<CAF{uuid.uuid4().hex}@mail.gmail.com>"
    msg["Date"] = "Tue, 01 Dec 2026 08:45:00 +0000"
    msg.set_content(text)
    if html:
        msg.add_alternative(html, subtype="html")
    return msg


def ticket_of(inst: Installation, sender: str) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        mine = [t for t in inst.tickets() if t["requester"] == sender]
        return mine[0] if mine else None
    brief = wait_until(found, 30, f"the ticket of {sender}")
    return inst.show(brief["number"])


def ack_of(inst: Installation, sender: str) -> tuple[bytes, str]:
    wait_outbox_settled(inst)
    [raw] = acks_to(inst, sender)
    mail = message_from_bytes(raw, policy=default)
    text = next(part for part in mail.walk() if part.get_content_type() == "text/plain")
    return raw, str(text.get_content())  # type: ignore[attr-defined]


def events(ticket: dict[str, Any], kind: str) -> list[str]:
    return [e["detail"] for e in ticket["events"] if e["type"] == kind]


def test_an_outage_is_critical_for_a_premium_customer_and_high_for_a_free_one(
        inst: Installation) -> None:
    premium, free = customer("premium"), customer("free")
    inst.cli("customers", "set", premium, "premium", "--name", "Dr. Ann Lee")
    for sender in (premium, free):
        inst.send(gmail(sender, "Cannot open patient charts", OUTAGE_TEXT, OUTAGE_HTML))

    critical = ticket_of(inst, premium)
    assert critical["priority"] == "critical"
    assert 'critical: "system is down" in the text' in events(critical, "priority_rule")
    assert events(critical, "priority_cap") == []
    _, ack = ack_of(inst, premium)
    assert "Priority: critical" in ack and "We will reply within 1 hour." in ack

    capped = ticket_of(inst, free)
    assert capped["priority"] == "high"  # "Account type: Enterprise" in the mail is not read
    assert events(capped, "priority_cap") == [
        "critical capped to high: a sender not in the customer directory (free); critical "
        "is for premium and enterprise customers"]
    _, ack = ack_of(inst, free)
    assert "Priority: high" in ack and "We will reply within 4 hours." in ack


def test_a_bug_mail_to_support_lands_in_bugs(inst: Installation) -> None:
    sender = customer("bug")
    inst.send(gmail(sender, "[Bug] Export button greyed out", "It stays grey.\n"))
    ticket = ticket_of(inst, sender)
    assert ticket["queue"] == "bugs"
    assert events(ticket, "bug_route") == [
        "[Bug] subject to the support queue: created in the bugs queue instead"]
    raw, _ = ack_of(inst, sender)
    assert header_of(raw, "From").endswith(f"<bugs@{DOMAIN}>")


def test_a_bug_report_without_its_app_version_is_asked_for_it_and_only_it(
        inst: Installation) -> None:
    sender = customer("reporter")
    inst.send(gmail(sender, "[Bug] Upload does nothing", BUG_TEXT))
    ticket = ticket_of(inst, sender)
    assert ticket["queue"] == "bugs"
    assert ticket["bug_report"] == {
        "steps": "1. Go to Documents\n2. Click Upload\n3. Choose a 2 MB PDF",
        "browser": "Chrome 120", "device": None, "os": "Windows 11", "app_version": None,
        "missing": ["app_version"]}
    _, ack = ack_of(inst, sender)
    asked = ack.split("please reply with what your report is missing:", 1)[1]
    asked_lines = [line.strip() for line in asked.strip().split("\n\n", 1)[0].splitlines()]
    assert asked_lines == ["- App version, for example: App version: 3.2.0"]

    # The customer answers with it: the report is complete, the browser kept.
    number = ticket["number"]
    reply = gmail(sender, f"Re: [{number}] [Bug] Upload does nothing",
                  "App version: 3.2.0\n\nOn Tue, 1 Dec 2026, Bugs team wrote:\n> Browser: "
                  "Firefox 1\n", to=f"bugs@{DOMAIN}")
    inst.send(reply)

    def filled() -> dict[str, Any] | None:
        report = inst.show(number)["bug_report"]
        return report if report["app_version"] else None
    report = wait_until(filled, 30, "the app version stored")
    assert (report["app_version"], report["browser"], report["missing"]) == \
        ("3.2.0", "Chrome 120", [])
    shown = inst.cli("show", number).stdout
    assert "bug report: browser Chrome 120; os Windows 11; app version 3.2.0" in shown
