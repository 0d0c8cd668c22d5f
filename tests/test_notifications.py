"""Team notifications through the real worker, spool and SQLite files (no serve process).

Mail is built as clients write it (a PDF attached, a Thunderbird reply quoting ours) and
parsed by the real parser; what the team receives is read back from the outbox's bytes.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from maildaemon.config import config_from_dict
from maildaemon.domain import Status
from maildaemon.policy.replyaddress import made_for, read_reply_address
from maildaemon.spool import Incoming
from maildaemon.workproc import Parts, worker_parts

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
DOMAIN = "healthsync.com"
BILLING = ("ben@healthsync.com", "bea@healthsync.com")
DEFAULT = ("dora@healthsync.com",)
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def make_parts(tmp_path: Path, notifications: dict[str, Any] | None = None) -> Parts:
    return worker_parts(config_from_dict({
        "mail": {"domain": DOMAIN},
        "storage": {"data_dir": str(tmp_path / "data")},
        "outbound": {"maildir": str(tmp_path / "out")},
        "teams": {"billing": list(BILLING), "default": list(DEFAULT)},
        "notifications": notifications or {},
    }), lambda: NOW)


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[Parts]:
    made = make_parts(tmp_path)
    yield made
    made.checkpointer.stop()


def customer_mail(body: str, sender: str = "ann@example.org", to: str = f"billing@{DOMAIN}",
                  subject: str = "Charged twice for March", message_id: str = "<a1@example.org>",
                  files: tuple[tuple[str, bytes], ...] = (), **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f"Ann Smith <{sender}>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = message_id
    msg["Date"] = "Sat, 28 Nov 2026 08:59:00 +0000"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    for name, data in files:
        msg.add_attachment(data, maintype="application", subtype="pdf", filename=name)
    return msg


def run(parts: Parts, msg: EmailMessage, rcpt: str | None = None) -> str:
    sender = email.utils.parseaddr(str(msg["From"]))[1]
    parts.spool.put_many([Incoming(sender, (rcpt or str(msg["To"]),), msg.as_bytes(), "t")])
    done = parts.worker.process_batch(1)
    assert len(done) == 1
    return done[0].outcome


def sent(parts: Parts, kind_prefix: str = "") -> list[tuple[str, str, EmailMessage]]:
    rows = parts.worker.store.conn.execute(  # type: ignore[attr-defined]
        "SELECT o.kind, o.rcpt_to, r.raw FROM outbox o JOIN outbox_raw r"
        " ON r.outbox_id = o.id WHERE o.kind LIKE ? ORDER BY o.id", (kind_prefix + "%",))
    return [(kind, to, email.message_from_bytes(bytes(raw), policy=email.policy.default))
            for kind, to, raw in rows]


def text_of(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


def number_of(parts: Parts) -> str:
    row = parts.worker.store.conn.execute(  # type: ignore[attr-defined]
        "SELECT number FROM tickets ORDER BY id DESC LIMIT 1").fetchone()
    return str(row[0])


def test_a_new_ticket_tells_each_address_of_its_queues_team(parts: Parts) -> None:
    msg = customer_mail("We were charged twice for March.\nInvoice 4411.",
                        files=(("invoice.pdf", PDF),))
    assert run(parts, msg) == "new_ticket"
    number = number_of(parts)
    notes = sent(parts, "notify_")
    assert [(kind, to) for kind, to, _ in notes] == [
        ("notify_new_ticket", BILLING[0]), ("notify_new_ticket", BILLING[1])]
    secret = parts.worker.secret
    for _, to, note in notes:
        assert note["To"] == to
        assert note["From"].addresses[0].addr_spec == f"billing@{DOMAIN}"
        assert str(note["Subject"]) == f"[{number}] New ticket: Charged twice for March"
        assert note["Auto-Submitted"] == "auto-generated"
        assert note["X-Auto-Response-Suppress"] == "All"
        tagged = read_reply_address(note["Reply-To"].addresses[0].addr_spec, DOMAIN)
        assert tagged is not None and tagged.number == number and not tagged.comment
        assert made_for(secret, tagged, (*BILLING, *DEFAULT)) == to  # that agent's only
        body = text_of(note)
        assert "We were charged twice for March.\nInvoice 4411." in body
        assert "Priority:  medium" in body and "Status:    new" in body
        assert "Due:       2026-11-29 09:00 UTC" in body and "free tier" in body
        comment = read_reply_address(body.split("write to\n")[1].split()[0], DOMAIN)
        assert comment is not None and comment.comment
        assert made_for(secret, comment, BILLING) == to
        files = [(p.get_filename(), p.get_content()) for p in note.iter_attachments()]
        assert files == [("invoice.pdf", PDF)]
    # The customer got the acknowledgement, and nothing else; the default team nothing.
    assert [(kind, to) for kind, to, _ in sent(parts) if not kind.startswith("notify_")] == [
        ("ack", "ann@example.org")]


def test_notifications_are_not_messages_of_the_conversation(parts: Parts) -> None:
    run(parts, customer_mail("Charged twice."))
    conn = parts.worker.store.conn  # type: ignore[attr-defined]
    outbound = conn.execute("SELECT to_addrs FROM messages WHERE direction = 'outbound'")
    assert [row[0] for row in outbound] == ['["ann@example.org"]']  # the ack alone
    counted = conn.execute("SELECT DISTINCT rcpt_to FROM recent_replies").fetchall()
    assert [row[0] for row in counted] == ["ann@example.org"]


def test_a_customers_reply_tells_the_team_with_the_earlier_messages(parts: Parts) -> None:
    run(parts, customer_mail("We were charged twice for March."))
    number = number_of(parts)
    ack = sent(parts, "ack")[0][2]
    reply = customer_mail(
        "Here is the second charge: 49.00 EUR on 3 March.\n\n"
        f"On Sat, 28 Nov 2026 at 09:00, Billing team <billing@{DOMAIN}> wrote:\n"
        "> Thank you for writing to us.\n> Your request is now ticket " + number + "\n",
        subject=f"Re: [{number}] Charged twice for March", message_id="<a2@example.org>",
        In_Reply_To=str(ack["Message-ID"]), References=str(ack["Message-ID"]))
    assert run(parts, reply) == "followup"
    notes = sent(parts, "notify_customer_reply")
    assert [to for _, to, _ in notes] == list(BILLING)
    body = text_of(notes[0][2])
    assert str(notes[0][2]["Subject"]) == \
        f"[{number}] Customer reply: Charged twice for March"
    their_text = body.split("----- their text -----\n")[1].split("----- end")[0]
    assert their_text.strip() == "Here is the second charge: 49.00 EUR on 3 March."
    earlier = body.split("newest first:\n")[1]
    assert "ann@example.org: We were charged twice for March." in earlier
    assert "Status:    new" in body  # nobody answered yet: still new


def test_a_reply_to_a_resolved_ticket_tells_the_team_it_reopened(parts: Parts) -> None:
    run(parts, customer_mail("Charged twice."))
    number = number_of(parts)
    store = parts.worker.store
    with store.transaction():
        ticket = store.ticket(number)  # type: ignore[attr-defined]
        store.set_status(ticket.id, Status.RESOLVED, "2026-11-28T09:00:00+00:00", None)  # type: ignore[attr-defined]
    reply = customer_mail("It happened again in April.", message_id="<a3@example.org>",
                          subject=f"Re: [{number}] Charged twice for March")
    assert run(parts, reply) == "followup"
    notes = sent(parts, "notify_reopened")
    assert [to for _, to, _ in notes] == list(BILLING)
    assert "Status:    open" in text_of(notes[0][2])
    assert str(notes[0][2]["Subject"]).startswith(f"[{number}] Reopened: ")


def test_automatic_mail_on_a_ticket_notifies_nobody(parts: Parts) -> None:
    run(parts, customer_mail("Charged twice."))
    number = number_of(parts)
    before = sent(parts, "notify_")
    away = customer_mail("I am out of the office until Monday.",
                         subject=f"Automatic reply: [{number}] Charged twice for March",
                         message_id="<ooo@example.org>", Auto_Submitted="auto-replied")
    assert run(parts, away) == "automatic_on_ticket"
    assert len(sent(parts, "notify_")) == len(before) == 2  # the opening's two alone


def test_a_team_address_among_the_participants_is_not_notified(parts: Parts) -> None:
    msg = customer_mail("Charged twice.")
    msg["Cc"] = BILLING[0]  # the customer copied one of the team: they are a participant
    run(parts, msg)
    assert [to for _, to, _ in sent(parts, "notify_")] == [BILLING[1]]


def test_a_queue_without_a_team_notifies_the_default_team(parts: Parts) -> None:
    run(parts, customer_mail("The app crashes.", to=f"support@{DOMAIN}"))
    assert [to for _, to, _ in sent(parts, "notify_")] == list(DEFAULT)


def test_two_tickets_never_show_each_others_text(parts: Parts) -> None:
    run(parts, customer_mail("SECRET-ONE invoice question", message_id="<t1@example.org>"))
    first = number_of(parts)
    run(parts, customer_mail("SECRET-TWO refund question", sender="carl@example.net",
                             subject="Refund", message_id="<t2@example.org>"))
    second = number_of(parts)
    run(parts, customer_mail("SECRET-THREE more on the refund", sender="carl@example.net",
                             subject=f"Re: [{second}] Refund", message_id="<t3@example.org>"))
    for _, _, note in sent(parts, "notify_"):
        raw = note.as_string()
        if first in str(note["Subject"]):
            assert "SECRET-TWO" not in raw and "SECRET-THREE" not in raw
        else:
            assert second in str(note["Subject"])
            assert "SECRET-ONE" not in raw


def test_files_over_the_budget_are_named_with_the_command_that_saves_them(
        tmp_path: Path) -> None:
    parts = make_parts(tmp_path, {"max_attached_bytes": len(PDF) + 10})
    try:
        run(parts, customer_mail("Statement attached.", files=(("march.pdf", PDF),)))
        number = number_of(parts)
        second = PDF + b"% April\n"
        run(parts, customer_mail("Two more.", message_id="<f2@example.org>",
                                 subject=f"Re: [{number}] Charged twice for March",
                                 files=(("april.pdf", second), ("may.pdf", PDF + b"%"))))
        note = sent(parts, "notify_customer_reply")[0][2]
        assert [p.get_filename() for p in note.iter_attachments()] == ["april.pdf"]
        assert f"may.pdf: maildaemon attachment {number} 3 --output ." in text_of(note)
        rows = parts.worker.store.conn.execute(  # type: ignore[attr-defined]
            "SELECT filename FROM attachments ORDER BY id").fetchall()
        assert [r[0] for r in rows][2] == "may.pdf"  # N as `show` and `attachment` count
    finally:
        parts.checkpointer.stop()


def test_a_long_text_is_cut(parts: Parts) -> None:
    run(parts, customer_mail("x" * 30_000 + "\nTHE END"))
    body = text_of(sent(parts, "notify_")[0][2])
    assert "[cut]" in body and "THE END" not in body


def test_an_outlook_reply_brings_only_the_customers_own_words(parts: Parts) -> None:
    run(parts, customer_mail("Charged twice for March."))
    number = number_of(parts)
    outlook = customer_mail(
        "Please refund the second charge.\n\nAnn Smith\n\n"
        "________________________________\n"
        f"From: Billing team <billing@{DOMAIN}>\n"
        "Sent: Saturday, November 28, 2026 10:00 AM\n"
        "To: Ann Smith <ann@example.org>\n"
        f"Subject: [{number}] Charged twice for March\n\n"
        "Thank you for writing to us. Your request is now ticket " + number + ".\n",
        subject=f"RE: [{number}] Charged twice for March", message_id="<o1@example.org>")
    assert run(parts, outlook) == "followup"
    body = text_of(sent(parts, "notify_customer_reply")[0][2])
    their_text = body.split("----- their text -----\n")[1].split("----- end")[0]
    assert "Please refund the second charge." in their_text
    assert "Sent: Saturday" not in their_text and "Thank you for writing" not in their_text


def test_an_html_only_mail_reaches_the_team_as_text(parts: Parts) -> None:
    msg = customer_mail("")
    msg.set_content("<div dir=\"ltr\">My <b>pump</b> stopped &amp; beeps.</div>",
                    subtype="html")
    run(parts, msg)
    note = sent(parts, "notify_new_ticket")[0][2]
    assert "My pump stopped & beeps." in " ".join(text_of(note).split())
    html = note.get_body(("html",))
    assert html is not None and "&lt;b&gt;" not in str(html.get_content())


def test_a_batch_with_two_messages_of_one_ticket_numbers_the_files_as_stored(
        tmp_path: Path) -> None:
    parts = make_parts(tmp_path, {"max_attached_bytes": 0})  # every file listed
    try:
        run(parts, customer_mail("Opening."))
        number = number_of(parts)
        first = customer_mail("One file.", message_id="<b1@example.org>",
                              subject=f"Re: [{number}] Charged twice for March",
                              files=(("march.pdf", PDF),))
        second = customer_mail("Another file.", message_id="<b2@example.org>",
                               subject=f"Re: [{number}] Charged twice for March",
                               files=(("april.pdf", PDF + b"%"),))
        parts.spool.put_many([Incoming("ann@example.org", (f"billing@{DOMAIN}",),
                                       m.as_bytes(), "t") for m in (first, second)])
        assert [d.outcome for d in parts.worker.process_batch(2)] == ["followup"] * 2
        later = [n for _, _, n in sent(parts, "notify_customer_reply")
                 if "Another file." in text_of(n)][0]
        assert f"april.pdf: maildaemon attachment {number} 2 --output ." in text_of(later)
        assert "ann@example.org: One file." in text_of(later).split("newest first:")[1]
    finally:
        parts.checkpointer.stop()


def agent_mail(agent: str, to: str, body: str, number: str) -> EmailMessage:
    """An agent's answer to a notification as Thunderbird writes it: text, then the quote."""
    msg = customer_mail(
        body + f"\n\nOn 28/11/2026 09:00, Billing team wrote:\n> New ticket: {number}\n",
        sender=agent, to=to, subject=f"Re: [{number}] New ticket: Charged twice for March",
        message_id=f"<{agent.split('@')[0]}-{number}@healthsync.com>")
    del msg["From"]
    msg["From"] = agent
    return msg


def test_an_escalation_and_a_refused_tag_are_told_to_the_rest_of_the_team(
        parts: Parts) -> None:
    run(parts, customer_mail("Charged twice."))
    number = number_of(parts)
    tags = {to: str(note["Reply-To"].addresses[0].addr_spec)
            for _, to, note in sent(parts, "notify_new_ticket")}
    misuse = agent_mail(BILLING[1], tags[BILLING[0]], "Let me answer as Ben.", number)
    assert run(parts, misuse, tags[BILLING[0]]) == "agent_refused"
    [(_, to, note)] = sent(parts, "notify_refused_tag")
    assert to == BILLING[0]  # Ben hears that his address was used; Bea gets a refusal
    assert str(note["Subject"]).startswith(f"[{number}] Refused reply address: ")
    escalate = agent_mail(BILLING[0], tags[BILLING[0]], "#escalate\n\nLooking into it.",
                          number)
    assert run(parts, escalate, tags[BILLING[0]]) == "agent_answer"
    told = sent(parts, "notify_escalated")
    # Not Ben, who escalated; Bea, of the team it left; the escalation queue's people
    # (here the default team), whose queue it is now.
    assert sorted(to for _, to, _ in told) == sorted([BILLING[1], *DEFAULT])
    assert all(str(note["Subject"]).startswith(f"[{number}] Escalated: ")
               for _, _, note in told)
