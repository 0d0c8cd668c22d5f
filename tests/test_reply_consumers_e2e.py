"""Issue 17, point 5, end to end: the real `maildaemon serve`, replies over SMTP as mail
clients write them (the formats of tests/fixtures/replies/*.eml), quoting the very mail
the daemon sent.

An inline answer to an agent's three questions keeps the three answers (stored, shown, and
in the team's notification); "Yes, that fixed it" below the quote closes a resolved ticket
and sends the survey; a rating under the quoted survey is recorded; a proven staff
member's inline answer reaches the customer without a quoted customer line, and one that
is only quote reaches nobody but the staff member, who is told.
"""

from __future__ import annotations

import importlib.util
import json
import uuid
from collections.abc import Iterator
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any

import pytest

from tests.conftest import DOMAIN, Installation, wait_until
from tests.outbound_sink import wait_outbox_settled

pytestmark = pytest.mark.slow
# Inline and bottom-posted own text needs the reply model (policy/reply.py, parse.py).
needs_model = pytest.mark.skipif(importlib.util.find_spec("maildaemon.policy.reply") is None,
                                 reason="the reply model has not landed")

TEAM = "dora@healthsync.com"
STAFF = "sam@healthsync.com"
OUR_MTA = "mx.healthsync.com"
CONFIG = f"""
[teams]
default = ["{TEAM}"]
[staff]
domains = ["{DOMAIN}"]
"""
PROVEN = f"{OUR_MTA}; dmarc=pass (p=reject dis=none) header.from={DOMAIN}"
QUESTIONS = ("1. Which version of the HealthSync app are you using?",
             "2. Does the sync fail every time, or only sometimes?",
             "3. Did you change your password recently?")
ANSWERS = ("Version 4.2.1 on Android 15.", "Only sometimes, mostly in the morning.",
           "Yes, I changed it last week.")


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    inst = Installation(tmp_path_factory.mktemp("consumers"), CONFIG)
    inst.config.write_text(inst.config.read_text().replace(
        "[mail]\n", f'[mail]\ntrusted_authserv_id = "{OUR_MTA}"\n'))
    inst.start()
    yield inst
    inst.kill()


def received(inst: Installation) -> list[EmailMessage]:
    return [message_from_bytes(raw, policy=default)
            for raw in inst.outbound()]


def plain(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


def mail_to(inst: Installation, address: str, number: str, count: int = 1
            ) -> list[EmailMessage]:
    """Our mail to `address` about ticket `number`, once there are `count` of them."""
    def found() -> list[EmailMessage] | None:
        mails = [m for m in received(inst) if number in str(m["Subject"])
                 and m["To"].addresses[0].addr_spec == address]
        return mails if len(mails) >= count else None
    return list(wait_until(found, 30, f"{count} mail to {address} about {number}"))


def quoted(text: str) -> str:
    return "\n".join(f"> {line}".rstrip() for line in text.rstrip("\n").split("\n"))


def headers(sender: str, name: str, ours: EmailMessage, mailer: str, **more: str) -> str:
    """A reply's head as the client writes it, threaded on our mail."""
    ours_id = str(ours["Message-ID"])
    lines = [f"From: {name} <{sender}>", f"To: {ours['From']}",
             f"Subject: Re: {ours['Subject']}", "Date: Mon, 30 Nov 2026 12:55:14 +0000",
             f"Message-ID: <{uuid.uuid4()}@{sender.split('@')[1]}>",
             f"In-Reply-To: {ours_id}", f"References: {ours_id}", "MIME-Version: 1.0",
             *(f"{k.replace('_', '-')}: {v}" for k, v in more.items()), mailer]
    return "\r\n".join(lines)


THUNDERBIRD = ("User-Agent: Mozilla Thunderbird\r\nContent-Language: en-GB\r\n"
               "Content-Type: text/plain; charset=UTF-8; format=flowed\r\n"
               "Content-Transfer-Encoding: 8bit")
APPLE_MAIL = ("X-Mailer: Apple Mail (2.3826.400.131.1.6)\r\n"
              "Content-Type: text/plain;\r\n\tcharset=utf-8;\r\n\tdelsp=yes;\r\n"
              "\tformat=flowed\r\nContent-Transfer-Encoding: 8bit")
GMAIL = "Content-Type: text/plain; charset=\"UTF-8\"\r\nContent-Transfer-Encoding: 8bit"


def raw(head: str, body: str) -> bytes:
    return (head + "\r\n\r\n" + body.replace("\n", "\r\n") + "\r\n").encode()


def send(inst: Installation, message: bytes, sender: str) -> None:
    inst.send(message, sender=sender)
    inst.wait_spool_empty(30)
    wait_outbox_settled(inst)


def opened(inst: Installation, body: str) -> tuple[str, str, EmailMessage]:
    """A new customer's ticket: their address, its number, our acknowledgement."""
    ann = f"ann-{uuid.uuid4().hex[:8]}@example.org"
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = f"Ann Walker <{ann}>", f"support@{DOMAIN}", \
        "Sync stops after a few minutes"
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@example.org>"
    msg.set_content(body)
    inst.send(msg, sender=ann)
    number = wait_until(lambda: [t["number"] for t in inst.tickets()
                                 if t["requester"] == ann], 30, "the ticket")[0]
    [ack] = mail_to(inst, ann, number)
    return ann, str(number), ack


def events(inst: Installation, number: str, kind: str) -> list[str]:
    return [e["detail"] for e in inst.show(number)["events"] if e["type"] == kind]


@needs_model
def test_an_inline_answer_to_three_questions_keeps_the_three_answers(
        daemon: Installation) -> None:
    inst = daemon
    ann, number, _ = opened(inst, "The sync stops after a few minutes.")
    questions = inst.tmp / f"{number}.txt"
    questions.write_text("Hello Ann,\n\nThank you for the details. To find the cause, could "
                         "you tell us:\n\n" + "\n\n".join(QUESTIONS) + "\n\nKind regards,\n"
                         "Maria")
    inst.cli("reply", number, "--from", "maria@healthsync.com", "--body-file",
             str(questions), "--status", "waiting")
    [asked] = mail_to(inst, ann, number, 2)[1:]
    ours = plain(asked).split("\n")
    # Thunderbird: the attribution on top, our mail quoted, each answer under its question.
    body, start = ["Hi Maria,", "", "my answers are below.", "",
                   f"On 30/11/2026 08:14, {asked['From']} wrote:"], 0
    for question, answer in zip(QUESTIONS, ANSWERS, strict=True):
        at = ours.index(question) + 1
        body += [quoted("\n".join(ours[start:at])), "", answer, ""]
        start = at
    body += ["-- ", "Ann Walker", "", quoted("\n".join(ours[start:]))]
    send(inst, raw(headers(ann, "Ann Walker", asked, THUNDERBIRD), "\n".join(body)), ann)
    [reply] = [m for m in inst.show(number)["messages"]
               if m["direction"] == "inbound"][1:]
    own = reply["own_text"]
    assert all(answer in own for answer in ANSWERS), own
    assert all(f"> {question}" in own for question in QUESTIONS), own
    assert "Kind regards" not in own and "simply reply" not in own
    [note] = [m for m in received(inst) if str(m["Subject"]).startswith(
        f"[{number}] Customer reply:")]
    text = plain(note)
    assert all(answer in text for answer in ANSWERS), text
    assert "simply reply" not in text.split("newest first:")[0]


def resolved_and_confirmed(inst: Installation) -> tuple[str, str]:
    ann, number, _ = opened(inst, "The sync stops after a few minutes.")
    inst.cli("assign", number, f"rita-{number.lower()}@healthsync.com")
    inst.cli("status", number, "resolved")
    [notice] = mail_to(inst, ann, number, 2)[1:]
    # Thunderbird bottom-posting: the attribution, our notice quoted, the answer below.
    body = (f"On 30/11/2026 08:14, {notice['From']} wrote:\n{quoted(plain(notice))}\n\n"
            "Yes, that fixed it. Thank you for the quick help!\n\n-- \nAnn Walker\n"
            "www.walker-design.co.uk")
    send(inst, raw(headers(ann, "Ann Walker", notice, THUNDERBIRD), body), ann)
    return ann, number


@needs_model
def test_yes_below_the_quote_closes_a_resolved_ticket_and_sends_the_survey(
        daemon: Installation) -> None:
    ann, number = resolved_and_confirmed(daemon)
    shown = daemon.show(number)
    assert shown["status"] == "closed"
    assert any(e["type"] == "confirmed" for e in shown["events"])
    assert [m for m in mail_to(daemon, ann, number, 3)
            if "How did we do" in str(m["Subject"]) or "satisf" in plain(m)]


@needs_model
def test_a_rating_under_the_quoted_survey_is_recorded(daemon: Installation) -> None:
    inst = daemon
    ann, number = resolved_and_confirmed(inst)
    survey = wait_until(lambda: [m for m in received(inst) if number in str(m["Subject"])
                                 and m["Auto-Submitted"] == "auto-generated"
                                 and "1 (not at all)" in " ".join(plain(m).split())
                                 ], 30, "the survey")[0]
    # Apple Mail, plain: the attribution, a blank line, the survey quoted, then the rating.
    body = (f"On 30 Nov 2026, at 08:14, {survey['From']} wrote:\n\n{quoted(plain(survey))}"
            "\n\n4\n\nQuick and friendly.\n\nBest regards,\nAnn")
    send(inst, raw(headers(ann, "Ann Walker", survey, APPLE_MAIL), body), ann)
    shown = inst.show(number)
    assert shown["rating"] == 4 and shown["status"] == "closed"
    assert any("Quick and friendly" in d for d in events(inst, number, "rating"))
    rows: list[dict[str, Any]] = json.loads(inst.cli("report", "ratings", "--json").stdout)
    mine = [r for r in rows if r["agent"] == f"rita-{number.lower()}@healthsync.com"]
    assert [(r["n"], r["mean"]) for r in mine] == [(1, 4.0)]


CUSTOMER_TEXT = ("My account number is 4711-2231-0098.\nThe export fails at step 2.\n\n"
                 "Which file format do you need from me?")


def staff_answer(inst: Installation, body: str) -> tuple[str, str]:
    """A customer's ticket, and a proven staff member's answer to their mail (Gmail:
    the attribution on top, the customer's lines quoted)."""
    ann, number, _ = opened(inst, CUSTOMER_TEXT)
    first = EmailMessage()
    first["From"], first["Subject"] = f"Ann Walker <{ann}>", f"[{number}] Sync stops"
    first["Message-ID"] = inst.show(number)["messages"][0]["message_id"]
    head = headers(STAFF, "Sam Lee", first, GMAIL, Authentication_Results=PROVEN)
    send(inst, raw(head, body), STAFF)
    return ann, number


@needs_model
def test_a_staff_members_inline_answer_reaches_the_customer_without_their_lines(
        daemon: Installation) -> None:
    inst = daemon
    lines = CUSTOMER_TEXT.split("\n")
    body = (f"On Mon, 30 Nov 2026 at 08:14, Ann Walker <ann@example.org> wrote:\n"
            f"{quoted(chr(10).join(lines[:2]))}\n\nThanks, we can see the failure on our "
            f"side.\n\n{quoted(lines[3])}\n\nCSV, please.\n\n-- \nSam Lee\nHealthSync support")
    ann, number = staff_answer(inst, body)
    [relayed] = mail_to(inst, ann, number, 2)[1:]
    text = plain(relayed)
    assert "we can see the failure on our side." in text and "CSV, please." in text
    for line in lines:
        if line:
            assert line not in relayed.as_string()
    assert not [line for line in text.split("\n") if line.startswith(">")]
    assert "4711" not in relayed.as_string()


def test_a_staff_answer_that_is_only_quote_relays_nothing_and_tells_the_staff(
        daemon: Installation) -> None:
    inst = daemon
    body = (f"On Mon, 30 Nov 2026 at 08:14, Ann Walker <ann@example.org> wrote:\n"
            f"{quoted(CUSTOMER_TEXT)}\n\n-- \nSam Lee\nHealthSync support")
    ann, number = staff_answer(inst, body)
    assert len(mail_to(inst, ann, number)) == 1  # the acknowledgement, nothing since
    [told] = mail_to(inst, STAFF, number)
    assert told["Auto-Submitted"] == "auto-replied"
    assert "was not sent to the customer" in " ".join(plain(told).split())
    assert "4711" not in told.as_string()
    assert events(inst, number, "agent_reply_empty")
    assert inst.show(number)["status"] == "new"
