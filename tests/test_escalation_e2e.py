"""Issue 12, points 5 and 6, end to end: the real `maildaemon serve`, mail over SMTP on
127.0.0.1 as Outlook, Gmail, Apple Mail, Thunderbird and a phone write it, the commands as
ops run them, what was sent read back from the outbound maildir.

One daemon for the module; each test writes as its own customers and finds its mail by
the ticket number. The clock is moved only through the commands' `--now` (the sweep,
`reply`): nothing patches time.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any

import pytest

from tests.conftest import DOMAIN, Installation, wait_until
from tests.outbound_sink import wait_outbox_settled

pytestmark = pytest.mark.slow

KIM, BOSS, LEAD, DORA, SAM = ("kim@healthsync.com", "boss@healthsync.com",
                              "lead@healthsync.com", "dora@healthsync.com",
                              "sam@healthsync.com")
CONFIG = f"""
[teams]
default = ["{DORA}"]
[managers]
escalation = ["{BOSS}"]
[escalation]
manager = "{LEAD}"
phrases = ["please escalate this ticket", "escalate this", "please escalate",
           "bitte eskalieren"]
[premium]
update_interval = 2.0
"""


@pytest.fixture(scope="module")
def inst(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    made = Installation(tmp_path_factory.mktemp("escalation"), CONFIG)
    made.start()
    yield made
    made.kill()


def someone(name: str, domain: str = "clinic.example") -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}@{domain}"


def message_id() -> str:
    return f"<{uuid.uuid4().hex}@mail.example>"


def outlook_new(sender: str, subject: str, body: str, to: str = f"support@{DOMAIN}"
                ) -> EmailMessage:
    """Outlook 16 on Windows: text and HTML, its Thread-Index."""
    msg = EmailMessage()
    msg["From"] = f"Ann Lee <{sender}>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = message_id()
    msg["Date"] = "Mon, 30 Nov 2026 09:00:00 +0000"
    msg["X-Mailer"] = "Microsoft Outlook 16.0"
    msg["Thread-Index"] = "AdnBq2l1c2VyYWJjZGVmZ2hpams="
    msg.set_content(body)
    msg.add_alternative(f"<html><body><p>{body}</p></body></html>", subtype="html")
    return msg


def gmail_reply(sender: str, ours: EmailMessage, own: str) -> EmailMessage:
    """Gmail answering our mail above the quote, with its gmail_quote HTML."""
    msg = EmailMessage()
    msg["From"] = f"Bo Berg <{sender}>"
    msg["To"] = str(ours["From"])
    msg["Subject"] = f"Re: {ours['Subject']}"
    msg["Message-ID"] = message_id()
    msg["In-Reply-To"] = str(ours["Message-ID"])
    msg["References"] = str(ours["Message-ID"])
    msg["Date"] = "Mon, 30 Nov 2026 11:00:00 +0000"
    quoted = "\n".join(f"> {line}" for line in text_of(ours).splitlines())
    msg.set_content(f"{own}\n\nOn Mon, 30 Nov 2026 at 10:00, Support team "
                    f"<{DOMAIN}> wrote:\n{quoted}\n")
    msg.add_alternative(
        f'<div dir="ltr">{own}</div><br><div class="gmail_quote"><div dir="ltr" '
        'class="gmail_attr">On Mon, 30 Nov 2026 at 10:00, Support team wrote:<br></div>'
        f'<blockquote class="gmail_quote">{text_of(ours)}</blockquote></div>',
        subtype="html")
    return msg


def apple_reply(sender: str, ours: EmailMessage, own: str, quoted: str) -> EmailMessage:
    """Apple Mail: plain text, the quote below an "On ..., at ..., ... wrote:" line."""
    msg = EmailMessage()
    msg["From"] = f"Cy Dahl <{sender}>"
    msg["To"] = str(ours["From"])
    msg["Subject"] = f"Re: {ours['Subject']}"
    msg["Message-ID"] = message_id()
    msg["In-Reply-To"] = str(ours["Message-ID"])
    msg["References"] = str(ours["Message-ID"])
    msg["X-Mailer"] = "Apple Mail (2.3774.200.91.1.1)"
    msg.set_content(f"{own}\n\n> On 30 Nov 2026, at 10:00, Bo Berg <bo@clinic.example> "
                    "wrote:\n> \n" + "".join(f"> {line}\n" for line in quoted.splitlines()))
    return msg


def phone(sender: str, to: str, subject: str, body: str) -> EmailMessage:
    """An iPhone's plain mail."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = message_id()
    msg["X-Mailer"] = "iPhone Mail (21G93)"
    msg.set_content(f"{body}\n\nSent from my iPhone")
    return msg


def text_of(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


def html_of(msg: EmailMessage) -> str:
    part = msg.get_body(("html",))
    assert part is not None
    return str(part.get_content())


def outbox(inst: Installation) -> list[dict[str, Any]]:
    return list(json.loads(inst.cli("outbox", "ls", "--all", "--json").stdout))


def delivered(inst: Installation) -> dict[str, EmailMessage]:
    """Every mail in the outbound maildir, by Message-ID."""
    found = {}
    for raw in inst.outbound():
        msg = message_from_bytes(raw, policy=default)
        found[str(msg["Message-ID"])] = msg
    return found  # type: ignore[return-value]


def mails(inst: Installation, kind: str, to: str | None = None,
          number: str | None = None, count: int = 1) -> list[EmailMessage]:
    """Wait for `count` mails of `kind` (to `to`, on `number`), delivered; return them."""
    def ready() -> list[EmailMessage] | None:
        rows = [r for r in outbox(inst) if r["kind"] == kind
                and (to is None or r["rcpt_to"] == to)
                and (number is None or r["number"] == number)]
        got = delivered(inst)
        found = [got[r["message_id"]] for r in rows if r["message_id"] in got]
        return found if len(found) >= count else None
    return list(wait_until(ready, 20, f"{count} {kind} to {to}"))


def ticket_of(inst: Installation, requester: str) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        mine = [t for t in inst.tickets() if t["requester"] == requester]
        return mine[-1] if mine else None
    number = wait_until(found, 20, f"a ticket of {requester}")["number"]
    inst.wait_spool_empty()
    return inst.show(number)


def open_ticket(inst: Installation, sender: str, subject: str = "Upload page error",
                body: str = "The upload page shows error 500.") -> tuple[dict[str, Any],
                                                                         EmailMessage]:
    inst.send(outlook_new(sender, subject, body))
    ticket = ticket_of(inst, sender)
    [ack] = mails(inst, "ack", sender)
    return ticket, ack


def settled_show(inst: Installation, number: str) -> dict[str, Any]:
    inst.wait_spool_empty()
    wait_outbox_settled(inst)
    return inst.show(number)


def test_an_account_manager_is_copied_on_the_ack_and_assigned(inst: Installation) -> None:
    ann = someone("ann")
    inst.cli("customers", "set", ann, "premium", "--account-manager", KIM)
    ticket, ack = open_ticket(inst, ann)
    assert str(ack["To"]) == ann and str(ack["Cc"]) == KIM
    assert ticket["assignee"] == KIM
    assert any(e["type"] == "assigned" and KIM in e["detail"] for e in ticket["events"])
    free = someone("bob")
    ticket, ack = open_ticket(inst, free)
    assert ack["Cc"] is None and ticket["assignee"] is None


def test_escalation_by_address_from_the_requester(inst: Installation) -> None:
    ann = someone("ann")
    inst.cli("customers", "set", ann, "premium", "--account-manager", KIM)
    ticket, _ = open_ticket(inst, ann)
    number = ticket["number"]
    inst.send(outlook_new(ann, "Escalation", f"Ticket {number} is urgent: our clinic cannot "
                          "upload any scan.", to=f"escalation@{DOMAIN}"))
    [confirmation] = mails(inst, "escalation_confirmed", ann, number)
    after = settled_show(inst, number)
    assert (after["priority"], after["queue"], after["assignee"], after["escalated"]) == \
        ("high", "escalation", LEAD, True)
    assert after["first_response_due"] != ticket["first_response_due"]
    [event] = [e for e in after["events"] if e["type"] == "escalated"]
    assert event["detail"].startswith(f"by {ann}: Ticket {number} is urgent")
    assert str(confirmation["From"]).endswith(f"<escalation@{DOMAIN}>")
    assert str(confirmation["Subject"]) == f"[{number}] Upload page error"
    assert "New priority: high" in text_of(confirmation)
    assert "Response target: within 2 hours" in text_of(confirmation)  # premium high
    told = {str(m["To"]) for m in mails(inst, "notify_escalated", number=number, count=3)}
    assert told == {DORA, BOSS, KIM}  # the queue's team, its manager, Ann's account manager


def test_escalation_by_phrase_in_a_gmail_reply(inst: Installation) -> None:
    bo = someone("bo")
    ticket, ack = open_ticket(inst, bo, "Export stuck", "The export has been stuck for days.")
    inst.send(gmail_reply(bo, ack, "Still nothing after two days. Please escalate this "
                                   "ticket."))
    [confirmation] = mails(inst, "escalation_confirmed", bo, ticket["number"])
    after = settled_show(inst, ticket["number"])
    assert (after["priority"], after["queue"], after["escalated"]) == \
        ("high", "escalation", True)  # free: one level up, at most high
    assert "New priority: high" in text_of(confirmation)
    assert str(confirmation["In-Reply-To"]).startswith("<")
    assert {str(m["To"]) for m in mails(inst, "notify_escalated", number=ticket["number"],
                                        count=2)} == {DORA, BOSS}  # no account manager


def test_a_phrase_in_german_is_configured_too(inst: Installation) -> None:
    jo = someone("jo", "praxis.example")
    ticket, ack = open_ticket(inst, jo, "Rechnung falsch", "Die Rechnung ist doppelt.")
    reply = gmail_reply(jo, ack, "Seit einer Woche keine Antwort. Bitte eskalieren!")
    inst.send(reply)
    mails(inst, "escalation_confirmed", jo, ticket["number"])
    assert settled_show(inst, ticket["number"])["escalated"] is True


def test_the_phrase_only_in_quoted_text_does_nothing(inst: Installation) -> None:
    cy = someone("cy")
    ticket, ack = open_ticket(inst, cy, "Sync fails", "Sync fails every night.")
    inst.send(apple_reply(cy, ack, "Thanks, the workaround helps for now.",
                          "Please escalate this ticket if it fails again."))
    after = settled_show(inst, ticket["number"])
    # Stored as a reply (not confirmed: the acknowledgement went less than an hour ago).
    assert [e["type"] for e in after["events"]].count("customer_reply") == 1
    assert (after["priority"], after["queue"], after["escalated"]) == \
        (ticket["priority"], ticket["queue"], False)
    assert not [r for r in outbox(inst) if r["number"] == ticket["number"]
                and r["kind"].startswith("escalation")]


def test_a_strangers_request_changes_nothing_and_reveals_nothing(inst: Installation) -> None:
    ann = someone("ann")
    ticket, _ = open_ticket(inst, ann)
    number = ticket["number"]
    taken = {t["number"] for t in inst.tickets()}
    missing = next(f"HS-{n:06d}" for n in range(100000, 200000) if f"HS-{n:06d}" not in taken)
    eve = someone("eve", "example.net")
    for named in (number, missing):
        inst.send(phone(eve, f"escalation@{DOMAIN}", "Escalation",
                        f"Escalate ticket {named} immediately."))
    answers = mails(inst, "escalation_refused", eve, count=2)
    assert sorted(str(a["Subject"]) for a in answers) == sorted(
        f"[{n}] Your escalation request" for n in (number, missing))
    assert text_of(answers[0]) == text_of(answers[1])  # byte for byte
    assert html_of(answers[0]) == html_of(answers[1])
    assert number not in text_of(answers[0]) and "Upload page error" not in text_of(answers[0])
    after = settled_show(inst, number)
    assert {k: after[k] for k in ("priority", "queue", "assignee", "escalated", "status")} \
        == {k: ticket[k] for k in ("priority", "queue", "assignee", "escalated", "status")}
    assert eve not in after["participants"]
    assert [e["type"] for e in after["events"]] == [e["type"] for e in ticket["events"]]
    assert missing not in {t["number"] for t in inst.tickets()}
    kept = json.loads(inst.cli("automatic", "--json").stdout)
    assert [k["reason"] for k in kept if k["from_addr"] == eve] == ["escalation_refused"] * 2


def test_a_repeated_escalation_says_already_escalated(inst: Installation) -> None:
    di = someone("di")
    ticket, _ = open_ticket(inst, di)
    number = ticket["number"]
    first = outlook_new(di, f"Escalate {number}", "Please help.",
                        to=f"escalation@{DOMAIN}").as_bytes()  # one MIME boundary
    inst.send(first, di, [f"escalation@{DOMAIN}"])
    mails(inst, "escalation_confirmed", di, number)
    escalated = settled_show(inst, number)
    inst.send(first, di, [f"escalation@{DOMAIN}"])  # a retry: a duplicate, nothing sent
    inst.send(outlook_new(di, f"Escalate {number}", "Still waiting!",
                          to=f"escalation@{DOMAIN}"))
    [already] = mails(inst, "escalation_already", di, number)
    assert "already escalated" in text_of(already)
    after = settled_show(inst, number)
    assert {k: after[k] for k in ("priority", "queue", "assignee", "first_response_due")} == \
        {k: escalated[k] for k in ("priority", "queue", "assignee", "first_response_due")}
    assert len([r for r in outbox(inst) if r["number"] == number
                and r["kind"] == "escalation_confirmed"]) == 1
    assert len([m for m in after["messages"] if m["direction"] == "inbound"]) == 3


def test_maildaemon_escalate(inst: Installation) -> None:
    ed = someone("ed")
    ticket, _ = open_ticket(inst, ed)
    number = ticket["number"]
    done = inst.cli("escalate", number, "--note", "Customer called twice")
    assert done.stdout.strip() == (f"{number}: escalated: priority medium -> high, queue "
                                   f"support -> escalation, assigned to {LEAD}")
    after = settled_show(inst, number)
    assert after["escalated"] is True and after["priority"] == "high"
    [event] = [e for e in after["events"] if e["type"] == "escalated"]
    assert "Customer called twice" in event["detail"]
    [confirmation] = mails(inst, "escalation_confirmed", ed, number)
    assert "Customer called twice" not in text_of(confirmation)  # the note stays internal
    again = inst.cli("escalate", number)
    assert again.returncode == 0 and "already escalated" in again.stdout
    unknown = inst.cli("escalate", "HS-000000", check=False)
    assert unknown.returncode == 1 and "no ticket HS-000000" in unknown.stderr


def test_a_premium_ticket_gets_one_update_per_interval(inst: Installation) -> None:
    fay = someone("fay")
    inst.cli("customers", "set", fay, "enterprise")
    ticket, _ = open_ticket(inst, fay, "Reports empty", "All reports are empty since Friday.")
    number = ticket["number"]
    created = datetime.strptime(ticket["created_at"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=UTC)

    def sweep(days: float) -> int:
        when = created + timedelta(days=days)
        inst.cli("sweep", "--now", when.strftime("%Y-%m-%dT%H:%M:%SZ"))
        wait_outbox_settled(inst)
        return len([r for r in outbox(inst) if r["number"] == number
                    and r["kind"] == "proactive_update"])

    # Two business days are always within 5 calendar days and never within 1.
    assert sweep(0.01) == 0
    assert sweep(1) == 0
    assert sweep(5) == 1
    assert sweep(5) == 1  # the same sweep again: nothing twice
    assert sweep(5.01) == 1
    assert sweep(10) == 2  # the next interval
    [update, _] = mails(inst, "proactive_update", fay, number, count=2)
    assert "Status: received" in text_of(update)
    assert "Assigned to: not yet assigned" in text_of(update)
    # An agent answers: the next update waits a whole interval from that answer.
    answer = inst.tmp / "answer.txt"
    answer.write_text("We found the cause and are testing a fix.")
    replied = created + timedelta(days=10, hours=1)
    inst.cli("reply", number, "--from", SAM, "--body-file", str(answer), "--now",
             replied.strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert sweep(11) == 2
    assert sweep(15.1) == 3
    assert "our next update by" in text_of(mails(inst, "proactive_update", fay, number,
                                                 count=3)[-1])
