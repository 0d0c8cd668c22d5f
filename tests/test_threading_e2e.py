"""Routing, threading, duplicates and loop safety through a real daemon over SMTP.

Each test uses its own sender addresses so that one daemon serves the whole module.
"Settled" means the spool is empty *and* the outbox has nothing pending: the worker delivers
on its own after the ticket commit, so an empty spool alone says nothing about the maildir,
and a check that no reply was sent would pass even when one was queued.
"""

from __future__ import annotations

import json
import uuid
from email.header import Header
from email.message import EmailMessage
from typing import Any

import pytest

from tests.conftest import (
    DOMAIN,
    Installation,
    acks_to,
    free_port,
    header_of,
    mail,
    wait_until,
)
from tests.test_attachments import EXE

pytestmark = pytest.mark.slow


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}@example.org"


def open_ticket(inst: Installation, sender: str, subject: str = "Cannot log in",
                to: str = f"support@{DOMAIN}", **headers: str) -> dict[str, Any]:
    msg = mail(subject=subject, sender=sender, to=to, **headers)
    inst.send(msg)
    ticket = wait_until(lambda: _ticket_by(inst, sender), what=f"a ticket from {sender}")
    wait_until(lambda: acks_to(inst, sender), what=f"the ack to {sender}")
    return dict(ticket)


def _ticket_by(inst: Installation, requester: str) -> dict[str, Any] | None:
    found = [t for t in inst.tickets() if t["requester"] == requester]
    return found[-1] if found else None


def tickets_of(inst: Installation, requester: str) -> list[dict[str, Any]]:
    return [t for t in inst.tickets() if t["requester"] == requester]


def send_and_settle(inst: Installation, msg: Any, **kwargs: Any) -> None:
    inst.send(msg, **kwargs)
    settle(inst)


def settle(inst: Installation, timeout: float = 15.0) -> None:
    """Wait until every received message is processed and every reply it queued delivered."""
    inst.wait_spool_empty(timeout)
    wait_until(lambda: json.loads(inst.cli("outbox", "ls", "--json").stdout) == [],
               timeout, "an outbox with nothing pending or failed")


def assert_never_answered(inst: Installation, address: str, timeout: float = 15.0) -> None:
    """No mail went to `address`; only meaningful once settled, which this waits for."""
    settle(inst, timeout)
    assert acks_to(inst, address) == [], f"we answered {address}"


def with_refused_file(msg: EmailMessage) -> EmailMessage:
    """A reply within the hour of the acknowledgement is confirmed only when the
    confirmation names a refused file (one receipt confirmation per ticket an hour): the
    tests of what a confirmation looks like send one."""
    msg.add_attachment(EXE, maintype="application", subtype="octet-stream",
                       filename="setup.exe")
    return msg


def our_message_id(inst: Installation, number: str) -> str:
    shown = inst.show(number)
    return str(next(m for m in shown["messages"] if m["direction"] == "outbound")["message_id"])


def inbound_count(inst: Installation, number: str) -> int:
    return sum(1 for m in inst.show(number)["messages"] if m["direction"] == "inbound")


# -- new tickets ---------------------------------------------------------------------------

def test_new_ticket_is_acknowledged_with_contract_headers(shared_daemon: Installation) -> None:
    sender = unique("ack")
    ticket = open_ticket(shared_daemon, sender, subject="FIRE: the system is down",
                         to=f"tech@{DOMAIN}")
    assert ticket["subject"] == "FIRE: the system is down"
    assert ticket["queue"] == "tech"
    assert ticket["status"] == "new"
    assert ticket["priority"] == "high"  # critical, capped: the sender is not premium
    number = ticket["number"]
    assert number.startswith("HS-") and len(number) == 9 and number[3:].isdigit()
    [ack] = acks_to(shared_daemon, sender)
    assert header_of(ack, "From").endswith(f"<tech@{DOMAIN}>")
    assert header_of(ack, "Subject") == f"[{number}] FIRE: the system is down"
    assert header_of(ack, "Message-ID").endswith(f"@{DOMAIN}>")
    assert number in header_of(ack, "Message-ID")
    assert header_of(ack, "Auto-Submitted") == "auto-replied"
    shown = shared_daemon.show(number)
    assert header_of(ack, "In-Reply-To") == shown["messages"][0]["message_id"]
    assert b"text/plain" in ack and b"text/html" in ack
    assert b"within 4 hours" in ack  # high
    assert b"printer is on fire" not in ack  # never quote the customer's body back


def test_ticket_numbers_are_random_not_sequential(shared_daemon: Installation) -> None:
    numbers = [open_ticket(shared_daemon, unique("seq"))["number"] for _ in range(4)]
    values = [int(n[3:]) for n in numbers]
    assert len(set(values)) == 4
    steps = {b - a for a, b in zip(values, values[1:], strict=False)}
    assert steps != {1}


def test_one_message_to_support_and_billing_makes_one_billing_ticket(
    shared_daemon: Installation,
) -> None:
    sender = unique("multi")
    msg = mail(sender=sender, to=f"support@{DOMAIN}", Cc=f"billing@{DOMAIN}")
    send_and_settle(shared_daemon, msg)
    [ticket] = tickets_of(shared_daemon, sender)
    assert ticket["queue"] == "billing"
    events = shared_daemon.show(ticket["number"])["events"]
    assert any(e["type"] == "routed" and "support" in e["detail"] for e in events)
    wait_until(lambda: len(acks_to(shared_daemon, sender)) == 1)


def test_same_message_delivered_per_recipient_makes_one_ticket(
    shared_daemon: Installation,
) -> None:
    sender = unique("split")
    msg = mail(sender=sender, to=f"support@{DOMAIN}", Cc=f"escalation@{DOMAIN}")
    send_and_settle(shared_daemon, msg, rcpts=[f"support@{DOMAIN}"])
    send_and_settle(shared_daemon, msg, rcpts=[f"escalation@{DOMAIN}"])
    [ticket] = tickets_of(shared_daemon, sender)
    assert ticket["queue"] == "escalation"
    assert len(acks_to(shared_daemon, sender)) == 1


def test_duplicate_delivery_stores_and_sends_nothing_new(shared_daemon: Installation) -> None:
    sender = unique("dup")
    msg = mail(sender=sender)
    send_and_settle(shared_daemon, msg)
    send_and_settle(shared_daemon, msg)
    [ticket] = tickets_of(shared_daemon, sender)
    assert inbound_count(shared_daemon, ticket["number"]) == 1
    assert len(acks_to(shared_daemon, sender)) == 1


# -- threading -----------------------------------------------------------------------------

@pytest.mark.parametrize(
    "template",
    [
        "Re: {token} Cannot log in",
        "RE: [{token}] Cannot log in",
        "Aw: AW: Re[3]: [{token}] Cannot log in",
        "Sv: SV: Vs: Antw: [{token}] Cannot log in",
        "Réf: Fwd: Fw: WG: TR: ({token}) Cannot log in",
        "回复: [{token}] Cannot log in",
        "re: [{lower}] still broken",
        "Cannot log in, see {token}!",
    ],
)
def test_subject_token_threads_behind_any_prefix(shared_daemon: Installation,
                                                 template: str) -> None:
    sender = unique("tok")
    number = open_ticket(shared_daemon, sender)["number"]
    subject = template.format(token=number, lower=number.lower())
    send_and_settle(shared_daemon, mail(subject=subject, sender=sender))
    assert len(tickets_of(shared_daemon, sender)) == 1
    assert inbound_count(shared_daemon, number) == 2
    events = shared_daemon.show(number)["events"]
    assert any(e["type"] == "token_from_subject" for e in events)


def test_encoded_word_subject_token_threads(shared_daemon: Installation) -> None:
    sender = unique("enc")
    number = open_ticket(shared_daemon, sender)["number"]
    msg = mail(sender=sender)
    del msg["Subject"]
    msg["Subject"] = Header(f"回复: [{number}] 无法登录", "utf-8").encode()
    send_and_settle(shared_daemon, msg)
    assert len(tickets_of(shared_daemon, sender)) == 1
    assert inbound_count(shared_daemon, number) == 2


def test_header_only_reply_threads_by_our_message_id(shared_daemon: Installation) -> None:
    sender = unique("hdr")
    number = open_ticket(shared_daemon, sender)["number"]
    ours = our_message_id(shared_daemon, number)
    reply = mail(subject="no token here", sender=sender, In_Reply_To=ours, References=ours)
    with_refused_file(reply)
    send_and_settle(shared_daemon, reply)
    assert len(tickets_of(shared_daemon, sender)) == 1
    events = shared_daemon.show(number)["events"]
    assert any(e["type"] == "header_thread" and "our_message_id" in e["detail"]
               for e in events)
    # The reply is confirmed, threaded on the customer's reply.
    confirmations = wait_until(lambda: len(acks_to(shared_daemon, sender)) == 2 and
                               acks_to(shared_daemon, sender))
    assert header_of(confirmations[1], "In-Reply-To") == reply["Message-ID"]


def test_reply_to_a_stored_customer_message_threads(shared_daemon: Installation) -> None:
    sender = unique("stored")
    first = mail(sender=sender, subject="Export fails")
    send_and_settle(shared_daemon, first)
    [ticket] = tickets_of(shared_daemon, sender)
    follow = mail(sender=sender, subject="more detail", In_Reply_To=first["Message-ID"])
    send_and_settle(shared_daemon, follow)
    assert len(tickets_of(shared_daemon, sender)) == 1
    assert inbound_count(shared_daemon, ticket["number"]) == 2


def test_forged_message_id_does_not_thread(shared_daemon: Installation) -> None:
    sender = unique("forge")
    victim = open_ticket(shared_daemon, unique("victim"))["number"]
    forged = f"<{victim}.0123456789abcdef.00000000000000000000@{DOMAIN}>"
    send_and_settle(shared_daemon, mail(sender=sender, subject="hello", In_Reply_To=forged))
    [mine] = tickets_of(shared_daemon, sender)
    assert mine["number"] != victim
    assert mine["related"] == []
    assert inbound_count(shared_daemon, victim) == 1


def test_copied_address_is_a_participant(shared_daemon: Installation) -> None:
    sender, colleague = unique("req"), unique("colleague")
    number = open_ticket(shared_daemon, sender, Cc=colleague)["number"]
    send_and_settle(shared_daemon, mail(subject=f"Re: [{number}] x", sender=colleague))
    assert tickets_of(shared_daemon, colleague) == []
    assert inbound_count(shared_daemon, number) == 2


def test_stranger_with_valid_token_gets_a_new_linked_ticket(shared_daemon: Installation) -> None:
    owner, stranger = unique("owner"), unique("stranger")
    number = open_ticket(shared_daemon, owner, subject="Secret salary question")["number"]
    owner_mail_before = len(acks_to(shared_daemon, owner))
    send_and_settle(shared_daemon, mail(subject=f"Re: [{number}] gimme", sender=stranger))
    [theirs] = tickets_of(shared_daemon, stranger)
    assert theirs["number"] != number
    assert theirs["related"] == [number]
    assert shared_daemon.show(number)["related"] == [theirs["number"]]  # agents see the link
    assert inbound_count(shared_daemon, number) == 1
    [ack] = wait_until(lambda: acks_to(shared_daemon, stranger))
    assert b"Secret salary" not in ack  # nothing of the old ticket is revealed
    assert b"continues your earlier ticket" not in ack  # (only their own subject names it)
    assert len(acks_to(shared_daemon, owner)) == owner_mail_before  # owner not notified


def test_stranger_replying_to_our_message_id_gets_a_new_ticket(
    shared_daemon: Installation,
) -> None:
    owner, stranger = unique("owner2"), unique("stranger2")
    number = open_ticket(shared_daemon, owner)["number"]
    ours = our_message_id(shared_daemon, number)
    send_and_settle(shared_daemon, mail(subject="hi", sender=stranger, In_Reply_To=ours))
    [theirs] = tickets_of(shared_daemon, stranger)
    assert theirs["related"] == [number]
    assert inbound_count(shared_daemon, number) == 1


def test_token_quoted_in_body_never_threads(shared_daemon: Installation) -> None:
    owner, sender = unique("q-owner"), unique("q-sender")
    number = open_ticket(shared_daemon, owner)["number"]
    own = open_ticket(shared_daemon, sender)["number"]
    body = f"New problem.\n\n> On Monday support wrote:\n> [{number}] Cannot log in\n"
    send_and_settle(shared_daemon, mail(subject="A different problem", sender=sender,
                                        body=body))
    mine = tickets_of(shared_daemon, sender)
    assert len(mine) == 2 and own in {t["number"] for t in mine}
    assert all(t["related"] == [] for t in mine)
    assert inbound_count(shared_daemon, number) == 1


def test_reply_to_waiting_or_resolved_ticket_reopens(shared_daemon: Installation) -> None:
    import sqlite3

    sender = unique("reopen")
    number = open_ticket(shared_daemon, sender)["number"]
    db = shared_daemon.tmp / "data" / "maildaemon.sqlite3"
    for status in ("waiting", "resolved"):
        with sqlite3.connect(db) as conn:  # an agent's action; its command comes later
            conn.execute("UPDATE tickets SET status = ? WHERE number = ?", (status, number))
        send_and_settle(shared_daemon, mail(subject=f"Re: {number}", sender=sender))
        assert shared_daemon.show(number)["status"] == "open"


def test_new_ticket_subject_keeps_customer_text_and_token_once(
    shared_daemon: Installation,
) -> None:
    sender = unique("once")
    number = open_ticket(shared_daemon, sender)["number"]
    send_and_settle(shared_daemon, with_refused_file(
        mail(subject=f"Re: [{number}] Cannot log in", sender=sender)))
    confirmations = wait_until(lambda: len(acks_to(shared_daemon, sender)) == 2 and
                               acks_to(shared_daemon, sender))
    subject = header_of(confirmations[1], "Subject")
    assert subject.count(number) == 1
    assert subject.startswith(f"[{number}]")


# -- loop safety ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    "headers",
    [
        {"Auto_Submitted": "auto-replied"},
        {"Auto_Submitted": "auto-generated"},
        {"Precedence": "bulk"},
        {"Precedence": "junk"},
        {"Precedence": "list"},
        {"List_Id": "<news.example.org>"},
        {"List_Unsubscribe": "<mailto:unsub@example.org>"},
    ],
)
def test_automatic_mail_is_stored_never_answered(shared_daemon: Installation,
                                                  headers: dict[str, str]) -> None:
    sender = unique("auto")
    send_and_settle(shared_daemon, mail(sender=sender, **headers))
    assert tickets_of(shared_daemon, sender) == []
    automatic = shared_daemon.cli("automatic", "--json").stdout
    assert sender in automatic
    assert_never_answered(shared_daemon, sender)


@pytest.mark.parametrize("local", ["MAILER-DAEMON", "postmaster", "no-reply", "noreply"])
def test_robot_senders_are_never_answered(shared_daemon: Installation, local: str) -> None:
    sender = f"{local}@{uuid.uuid4().hex[:8]}.example.org"
    send_and_settle(shared_daemon, mail(sender=sender))
    assert_never_answered(shared_daemon, sender.lower())
    assert sender.lower() in shared_daemon.cli("automatic").stdout


def test_null_envelope_sender_is_never_answered(shared_daemon: Installation) -> None:
    sender = unique("bounce")
    send_and_settle(shared_daemon, mail(sender=sender), sender="")
    assert_never_answered(shared_daemon, sender)
    assert "null_envelope_sender" in shared_daemon.cli("automatic").stdout


def test_mail_from_our_own_address_is_never_answered(shared_daemon: Installation) -> None:
    send_and_settle(shared_daemon, mail(sender=f"billing@{DOMAIN}", subject="loop?"))
    assert_never_answered(shared_daemon, f"billing@{DOMAIN}")


def test_out_of_office_on_a_ticket_is_stored_there_without_reply(
    shared_daemon: Installation,
) -> None:
    sender = unique("ooo")
    number = open_ticket(shared_daemon, sender)["number"]
    ours = our_message_id(shared_daemon, number)
    ooo = mail(subject=f"Out of office: [{number}]", sender=sender, In_Reply_To=ours,
               Auto_Submitted="auto-replied")
    send_and_settle(shared_daemon, ooo)
    shown = shared_daemon.show(number)
    assert [m["automated"] for m in shown["messages"] if m["direction"] == "inbound"] == [
        None, "auto_submitted"]
    assert shown["status"] == "new"
    assert len(acks_to(shared_daemon, sender)) == 1


def test_autoreplies_are_rate_limited_per_address(shared_daemon: Installation) -> None:
    sender = unique("flood")
    for i in range(7):
        shared_daemon.send(mail(sender=sender, subject=f"flood {i}"))
    settle(shared_daemon)
    assert len(tickets_of(shared_daemon, sender)) == 7
    wait_until(lambda: len(acks_to(shared_daemon, sender)) >= 5)
    assert len(acks_to(shared_daemon, sender)) == 5


# -- the checks above can fail -------------------------------------------------------------

def test_the_never_answered_check_fails_when_we_answered(shared_daemon: Installation) -> None:
    """A mail we do answer trips the check the loop-safety tests rely on."""
    for _ in range(3):
        sender = unique("answered")
        shared_daemon.send(mail(sender=sender))
        with pytest.raises(AssertionError, match="we answered"):
            assert_never_answered(shared_daemon, sender)


def test_the_never_answered_check_fails_while_a_reply_is_queued(
    installation: Installation,
) -> None:
    """A reply queued but not yet delivered: an empty spool and maildir said "never answered".

    The relay is a closed port with an hour's backoff, so the acknowledgement stays pending
    in the outbox exactly as one the worker has not delivered yet; only the outbox shows it.
    """
    closed = free_port()
    installation.config.write_text(installation.config.read_text().replace(
        "[outbound]\n",
        f"[outbound]\ntransport = \"smtp\"\nrelay_port = {closed}\n"
        "retry_base_seconds = 3600\n",
    ))
    installation.start()
    sender = unique("queued")
    installation.send(mail(sender=sender))
    installation.wait_spool_empty()
    assert acks_to(installation, sender) == []  # what the old check saw: nothing
    [queued] = json.loads(installation.cli("outbox", "ls", "--json").stdout)
    assert queued["rcpt_to"] == sender and queued["status"] == "pending"
    with pytest.raises(AssertionError, match="nothing pending"):
        assert_never_answered(installation, sender, timeout=2.0)
