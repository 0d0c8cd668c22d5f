"""Issue 13, point 5, end to end: the real `maildaemon serve` behind "our MTA", mail over
SMTP on 127.0.0.1 as Outlook, Gmail, Thunderbird, Apple Mail and an iPhone write it, with
the Authentication-Results our MTA puts on top; the agents' commands as ops run them; what
was sent read back from the outbound maildir.

One daemon for the module; each test writes as its own customers.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest

from tests.conftest import DOMAIN, FIXTURES, Installation, wait_until
from tests.outbound_sink import wait_outbox_settled
from tests.test_escalation_e2e import (
    apple_reply,
    gmail_reply,
    mails,
    outbox,
    outlook_new,
    phone,
    ticket_of,
)

pytestmark = pytest.mark.slow

OUR_MTA = "mx.healthsync.com"
AGENTS = "agents@healthsync.com"
SUPPORT = f"support@{DOMAIN}"


@pytest.fixture(scope="module")
def inst(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    made = Installation(tmp_path_factory.mktemp("sender_auth"),
                        f'[teams]\ndefault = ["{AGENTS}"]\n'
                        "[autoreply]\nmax_per_hour = 50\n")  # a customer writes a lot here
    made.config.write_text(made.config.read_text().replace(
        "[mail]\n", f'[mail]\ntrusted_authserv_id = "{OUR_MTA}"\n'))
    made.start()
    yield made
    made.kill()


def customer() -> str:
    return f"pat-{uuid.uuid4().hex[:8]}@clinic.example"


def via_our_mta(msg: EmailMessage | bytes, dmarc: str, sender: str) -> bytes:
    """As our MTA passes it on: OpenDMARC's verdict and the SPF milter's on top of its
    Received line, above everything the sender wrote."""
    raw = msg if isinstance(msg, bytes) else msg.as_bytes()
    domain = sender.rpartition("@")[2]
    spf = "pass" if dmarc == "pass" else "fail"
    return (f"Authentication-Results: {OUR_MTA}; dmarc={dmarc} (p=reject dis=none) "
            f"header.from={domain}\r\n"
            f"Authentication-Results: {OUR_MTA}; spf={spf} smtp.mailfrom={domain}\r\n"
            f"Received: from mail.{domain} by {OUR_MTA} (Postfix) with ESMTPS id "
            f"4X{uuid.uuid4().hex[:10]}\r\n").encode() + raw


def send(inst: Installation, msg: EmailMessage | bytes, sender: str, dmarc: str,
         to: str = SUPPORT) -> None:
    inst.send(via_our_mta(msg, dmarc, sender), sender=sender, rcpts=[to])


def tickets_of(inst: Installation, sender: str, count: int) -> list[dict[str, Any]]:
    def found() -> list[dict[str, Any]] | None:
        mine = [t for t in inst.tickets() if t["requester"] == sender]
        return mine if len(mine) >= count else None
    mine = list(wait_until(found, 20, f"{count} tickets of {sender}"))
    inst.wait_spool_empty()
    return mine


def settled(inst: Installation, number: str) -> dict[str, Any]:
    inst.wait_spool_empty()
    wait_outbox_settled(inst)
    return inst.show(number)


def body(msg: EmailMessage) -> str:
    return "\n".join(str(part.get_content()) for part in msg.walk()
                     if part.get_content_type() in ("text/plain", "text/html"))


def test_a_dmarc_failed_message_with_a_valid_token_from_the_requester_opens_an_unverified_linked_ticket(  # noqa: E501
        inst: Installation) -> None:
    pat = customer()
    send(inst, outlook_new(pat, "Cannot log in", "The app says my password is wrong."),
         pat, "pass")
    original = ticket_of(inst, pat)
    number = original["number"]
    assert original["unverified"] is False
    [ack] = mails(inst, "ack", pat, number)
    # Someone else's server, the requester's address, the token and our ack's Message-ID.
    forged = (FIXTURES / "auth_customer_dmarc_fail_thunderbird.eml").read_bytes() \
        .replace(b"alice@example.org", pat.encode()).replace(b"example.org",
                                                             b"clinic.example") \
        .replace(b"HS-000000", number.encode()) \
        .replace(b"<ACK-MESSAGE-ID>", str(ack["Message-ID"]).encode())
    inst.send(forged, sender=pat, rcpts=[SUPPORT])
    new = next(t for t in tickets_of(inst, pat, 2) if t["number"] != number)["number"]
    linked = settled(inst, new)
    assert linked["unverified"] is True and linked["related"] == [number]
    assert linked["status"] == "new" and linked["requester"] == pat
    assert any(e["type"] == "sender_unverified"
               and e["detail"] == f"{OUR_MTA}: dmarc=fail for clinic.example"
               for e in linked["events"])
    [message] = [m for m in linked["messages"] if m["direction"] == "inbound"]
    assert "lab results" in message["text"]
    # The requester's ticket: untouched but for the link, and nothing sent about it since.
    after = inst.show(number)
    assert after["status"] == "new" and after["unverified"] is False
    assert [m["direction"] for m in after["messages"]] == ["inbound", "outbound"]
    assert after["related"] == [new]
    assert [r["kind"] for r in outbox(inst) if r["number"] == number] == \
        ["ack", "notify_new_ticket"]
    # The acknowledgement: the new number, no word of the old ticket but the subject the
    # mail carried, and the question to the address's owner.
    [new_ack] = mails(inst, "ack", pat, new)
    text = body(new_ack)
    assert new in text and number not in text.replace(f"Re: [{number}] Cannot log in", "")
    assert "If you did not write to us" in " ".join(text.split())
    [note] = mails(inst, "notify_new_ticket", AGENTS, new)
    assert "NOT VERIFIED (dmarc=fail for clinic.example)" in body(note)


def test_an_unverified_mail_confirms_escalates_rates_and_reopens_nothing(
        inst: Installation) -> None:
    pat = customer()
    send(inst, outlook_new(pat, "Export fails", "The CSV export stops at 99%."), pat, "pass")
    number = ticket_of(inst, pat)["number"]
    [ack] = mails(inst, "ack", pat, number)

    inst.cli("status", number, "resolved", "--note", "fixed in 4.2.1")
    [resolved] = mails(inst, "status_resolved", pat, number)
    send(inst, gmail_reply(pat, resolved, "Yes, that fixed it, thanks!"), pat, "fail")
    tickets_of(inst, pat, 2)
    assert settled(inst, number)["status"] == "resolved"  # not closed by it

    send(inst, phone(pat, f"escalation@{DOMAIN}", f"Escalate {number}",
                     f"Please escalate {number}, we are losing data."), pat, "fail",
         to=f"escalation@{DOMAIN}")
    tickets_of(inst, pat, 3)
    shown = settled(inst, number)
    assert shown["escalated"] is False and shown["queue"] == "support"

    inst.cli("status", number, "closed")
    [survey] = mails(inst, "survey", pat, number)
    send(inst, apple_reply(pat, survey, "5 - quick and friendly", "How did we do?"), pat,
         "fail")
    tickets_of(inst, pat, 4)
    send(inst, gmail_reply(pat, ack, "The export is broken again since this morning."),
         pat, "fail")
    mine = tickets_of(inst, pat, 5)
    shown = settled(inst, number)
    assert shown["status"] == "closed" and shown["rating"] is None
    assert shown["escalated"] is False
    assert [m["direction"] for m in shown["messages"]].count("inbound") == 1
    linked = [inst.show(t["number"]) for t in mine if t["number"] != number]
    assert [(t["unverified"], t["related"]) for t in linked] == [(True, [number])] * 4
    told = [r["kind"] for r in outbox(inst) if r["rcpt_to"] == pat]
    assert "escalation_confirmed" not in told and "escalation_already" not in told
    assert told.count("survey") == 1  # the agent's close sent it; no second one

    # The same reply with our MTA's pass reopens it: the refusals above were the verdict's.
    send(inst, gmail_reply(pat, ack, "Sorry, it is broken again after the update."), pat,
         "pass")
    wait_until(lambda: inst.show(number)["status"] == "open", 20, "the ticket reopened")
    assert len(tickets_of(inst, pat, 5)) == 5


def test_a_header_of_another_authserv_id_is_ignored(inst: Installation) -> None:
    """A customer can write their own Authentication-Results; only our MTA's counts."""
    pat = customer()
    send(inst, outlook_new(pat, "Invoice", "Charged twice."), pat, "pass")
    number = ticket_of(inst, pat)["number"]
    [ack] = mails(inst, "ack", pat, number)
    reply = gmail_reply(pat, ack, "Here is the bank statement.")
    raw = (b"Authentication-Results: mx.google.com; dmarc=fail header.from=clinic.example"
           b"\r\n") + reply.as_bytes()
    inst.send(raw, sender=pat, rcpts=[SUPPORT])  # through no MTA of ours: no verdict
    wait_until(lambda: len(inst.show(number)["messages"]) >= 3, 20, "the reply joined")
    assert [t["number"] for t in tickets_of(inst, pat, 1)] == [number]
