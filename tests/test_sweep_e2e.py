"""Customer silence and closing, end to end through the commands, with a controlled clock.

The clock is injected where the process starts (`--now` on `ingest`, `status` and
`sweep`): the policy and the sweeps receive it; nothing patches datetime.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import Any

from tests.conftest import Installation, header_of, mail

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def at(days: float) -> str:
    return (T0 + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def ingest(inst: Installation, msg: Any, days: float) -> str:
    path = inst.tmp / f"m{days}.eml"
    path.write_bytes(bytes(msg))
    return inst.cli("ingest", "--now", at(days), str(path)).stdout


def sweep(inst: Installation, days: float) -> str:
    return inst.cli("sweep", "--now", at(days)).stdout


def mails_of(inst: Installation, kind: str) -> list[bytes]:
    rows = json.loads(inst.cli("outbox", "ls", "--all", "--json").stdout)
    ids = {r["message_id"] for r in rows if r["kind"] == kind}
    return [raw for raw in inst.outbound() if header_of(raw, "Message-ID") in ids]


def text_of(raw: bytes) -> str:
    part = message_from_bytes(raw, policy=default).get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def waiting_ticket(inst: Installation) -> tuple[str, Any]:
    """An agent answers and asks for information: the ticket waits for the customer."""
    first = mail(sender="silent@example.org", subject="Export fails")
    ingest(inst, first, 0)
    [ticket] = inst.tickets()
    body = inst.tmp / "answer.txt"
    body.write_text("Could you send us the export log?\n\nThanks, Sam")
    inst.cli("reply", ticket["number"], "--from", "sam@healthsync.com", "--body-file",
             str(body), "--status", "waiting", "--now", at(0.1))
    return ticket["number"], first


def test_agent_reply_reaches_the_people_threaded(installation: Installation) -> None:
    first = mail(sender="req@example.org", subject="Export fails", Cc="boss@example.org")
    ingest(installation, first, 0)
    [ticket] = installation.tickets()
    body = installation.tmp / "answer.txt"
    body.write_text("We found the cause. <b>Fixed</b> tonight.")
    out = installation.cli("reply", ticket["number"], "--from", "sam@healthsync.com",
                           "--body-file", str(body), "--now", at(0.2)).stdout
    assert "new -> open" in out
    replies = mails_of(installation, "agent_reply")  # one message to both (issue 18)
    assert [header_of(r, "To") for r in replies] == ["req@example.org"]
    assert [header_of(r, "Cc") for r in replies] == ["boss@example.org"]
    assert header_of(replies[0], "In-Reply-To") == first["Message-ID"]
    assert "We found the cause." in text_of(replies[0])
    html = message_from_bytes(replies[0], policy=default).get_body(("html",))
    assert html is not None and "&lt;b&gt;Fixed" in str(html.get_content())
    assert installation.show(ticket["number"])["status"] == "open"


def test_silence_reminds_once_marks_then_closes(installation: Installation) -> None:
    number, _ = waiting_ticket(installation)
    assert "nothing due" in sweep(installation, 2.9)
    assert "1 remind" in sweep(installation, 3.2)
    for days in (3.3, 3.5, 4):  # however often the sweep runs: exactly one reminder
        assert "nothing due" in sweep(installation, days)
    [reminder] = mails_of(installation, "reminder")
    assert header_of(reminder, "Auto-Submitted") == "auto-generated"
    assert header_of(reminder, "Subject").startswith(f"[{number}]")
    assert "still waiting for your answer" in text_of(reminder)

    assert "1 mark_waiting" in sweep(installation, 7.2)
    shown = installation.show(number)
    assert shown["waiting_on_customer"] is True and shown["status"] == "waiting"
    [notice] = mails_of(installation, "waiting_on_customer")
    assert "within 7 days, we will close" in " ".join(text_of(notice).split())

    assert "1 close" in sweep(installation, 14.2)
    assert "nothing due" in sweep(installation, 20)
    shown = installation.show(number)
    assert shown["status"] == "closed"
    [closed] = mails_of(installation, "closed")
    words = " ".join(text_of(closed).split())
    assert "we did not hear from you for 14 days" in words
    assert "reply to this email within 7 days and the ticket reopens" in words
    assert len(mails_of(installation, "reminder")) == 1


def test_a_reply_resets_the_timers_and_an_out_of_office_does_not(
    installation: Installation,
) -> None:
    number, first = waiting_ticket(installation)
    ooo = mail(sender="silent@example.org", subject=f"Out of office: [{number}]",
               Auto_Submitted="auto-replied", In_Reply_To=first["Message-ID"])
    ingest(installation, ooo, 2)
    assert installation.show(number)["status"] == "waiting"
    assert "1 remind" in sweep(installation, 3.2)  # the out-of-office changed nothing

    reply = mail(sender="silent@example.org", subject=f"Re: [{number}] logs attached",
                 In_Reply_To=first["Message-ID"])
    ingest(installation, reply, 5)
    shown = installation.show(number)
    assert shown["status"] == "open" and shown["waiting_on_customer"] is False
    # An open ticket has no timers; its SLA resolution target (5 business days, due on
    # day 7) moved later by the business time it waited (days 0.1 to 5), so none is missed.
    assert "nothing due" in sweep(installation, 9)


def test_closed_reopens_within_the_window_and_links_after_it(tmp_path: Path,
                                                             installation: Installation
                                                             ) -> None:
    number, first = waiting_ticket(installation)
    sweep(installation, 14.5)  # closed at day 14.5
    assert installation.show(number)["status"] == "closed"
    again = mail(sender="silent@example.org", subject=f"Re: [{number}] still broken")
    ingest(installation, again, 19.5)  # 5 days after closing
    shown = installation.show(number)
    assert shown["status"] == "open"
    assert any(e["type"] == "reopened" for e in shown["events"])

    installation.cli("status", number, "resolved", "--now", at(20))
    assert "1 close" in sweep(installation, 27.1)  # resolved, no reply for 7 days
    late = mail(sender="silent@example.org", subject=f"Re: [{number}] one more thing")
    ingest(installation, late, 35.2)  # 8 days after closing
    tickets = installation.tickets()
    assert len(tickets) == 2
    newer = next(t for t in tickets if t["number"] != number)
    assert newer["related"] == [number]
    [ack] = [raw for raw in mails_of(installation, "ack")
             if newer["number"] in header_of(raw, "Subject")]
    assert f"continues your earlier ticket {number}" in " ".join(text_of(ack).split())


def test_an_illegal_transition_is_a_clear_error(installation: Installation) -> None:
    number, _ = waiting_ticket(installation)
    result = installation.cli("status", number, "new", check=False)
    assert result.returncode == 2
    assert "a waiting ticket cannot become new" in result.stderr


def test_status_changes_tell_the_customer_notes_do_not(installation: Installation) -> None:
    first = mail(sender="told@example.org", subject="Printer")
    ingest(installation, first, 0)
    [ticket] = installation.tickets()
    number = ticket["number"]
    note = installation.tmp / "note.txt"
    note.write_text("Internal: the customer's contract ends soon.")
    installation.cli("note", number, "--body-file", str(note))
    installation.cli("assign", number, "sam@healthsync.com")
    installation.cli("status", number, "on_hold", "--note", "waiting for the vendor",
                     "--now", at(1))
    installation.cli("status", number, "resolved", "--now", at(2))
    installation.cli("status", number, "open", "--now", at(3))
    texts = [" ".join(text_of(raw).split()) for kind in
             ("status_on_hold", "status_resolved", "status_reopened")
             for raw in mails_of(installation, kind)]
    assert len(texts) == 3
    assert "is on hold while we wait for an internal resource" in texts[0]
    assert "is resolved" in texts[1] and "it closes in 7 days" in texts[1]
    assert "is open again" in texts[2]
    assert not any("contract" in t or "vendor" in t for t in texts)  # notes stay inside
    shown = installation.show(number)
    assert shown["assignee"] == "sam@healthsync.com"
    assert any(e["type"] == "note" and "contract" in e["detail"] for e in shown["events"])
    changes = [e["detail"] for e in shown["events"] if e["type"] == "status"]
    assert changes[0] == "new -> on_hold by an agent: waiting for the vendor"


def test_survey_reply_records_a_rating_without_reopening(installation: Installation) -> None:
    number, first = waiting_ticket(installation)
    installation.cli("assign", number, "sam@healthsync.com")
    sweep(installation, 14.5)
    [survey] = mails_of(installation, "survey")
    assert header_of(survey, "Auto-Submitted") == "auto-generated"
    answer = mail(sender="silent@example.org", subject=f"Re: [{number}] How did we do?",
                  In_Reply_To=header_of(survey, "Message-ID"),
                  body="4 - quick, but I had to ask twice.\n\n> Please reply with a number")
    ingest(installation, answer, 15)
    shown = installation.show(number)
    assert shown["status"] == "closed"
    assert shown["rating"] == 4
    assert any(e["type"] == "rating" and "ask twice" in e["detail"] for e in shown["events"])
    report = installation.cli("report", "ratings", "--json").stdout
    assert json.loads(report) == [{"queue": "support", "agent": "sam@healthsync.com",
                                   "n": 1, "mean": 4.0, "low": 0}]


def test_confirming_the_solution_closes_a_resolved_ticket(installation: Installation) -> None:
    number, first = waiting_ticket(installation)
    installation.cli("status", number, "resolved", "--now", at(1))
    yes = mail(sender="silent@example.org", subject=f"Re: [{number}] fixed?",
               body="Thanks, that fixed it!\n\nOn Monday Sam wrote:\n> Try again please")
    ingest(installation, yes, 2)
    shown = installation.show(number)
    assert shown["status"] == "closed"


    inbound = [m for m in shown["messages"] if m["direction"] == "inbound"]
    assert inbound[-1]["own_text"] == "Thanks, that fixed it!"
    assert len(mails_of(installation, "survey")) == 1


def test_a_staff_member_answering_by_email_reaches_the_customer(tmp_path: Path) -> None:
    inst = Installation(tmp_path, extra_config='[staff]\ndomains = ["healthsync.com"]\n')
    inst.config.write_text(inst.config.read_text().replace(
        "[mail]\n", '[mail]\ntrusted_authserv_id = "mx.healthsync.com"\n'))
    first = mail(sender="cust@example.org", subject="Cannot log in")
    ingest(inst, first, 0)
    [ticket] = inst.tickets()
    [ack] = inst.outbound()
    answer = mail(sender="sam@healthsync.com", subject=f"Re: [{ticket['number']}] login",
                  In_Reply_To=header_of(ack, "Message-ID"),
                  Authentication_Results="mx.healthsync.com; dmarc=pass "
                                         "header.from=healthsync.com",
                  body="Please reset your password here.\n\n> Thank you for writing")
    ingest(inst, answer, 1)
    [relayed] = mails_of(inst, "agent_reply")
    assert header_of(relayed, "To") == "cust@example.org"
    assert header_of(relayed, "From").endswith("<support@healthsync.com>")
    words = text_of(relayed)
    assert "Please reset your password here." in words and "Thank you for writing" not in words
    assert inst.show(ticket["number"])["status"] == "open"


def test_agent_reply_with_attachments(installation: Installation) -> None:
    from tests.test_attachments import PDF, png

    ingest(installation, mail(sender="att@example.org", subject="Manual?"), 0)
    [ticket] = installation.tickets()
    (installation.tmp / "answer.txt").write_text("Here is the manual and a screenshot.")
    (installation.tmp / "manual.pdf").write_bytes(PDF)
    (installation.tmp / "Bildschirmfoto über.png").write_bytes(png())
    installation.cli("reply", ticket["number"], "--from", "sam@healthsync.com",
                     "--body-file", str(installation.tmp / "answer.txt"),
                     "--attach", str(installation.tmp / "manual.pdf"),
                     "--attach", str(installation.tmp / "Bildschirmfoto über.png"),
                     "--now", at(1))
    [raw] = mails_of(installation, "agent_reply")
    msg = message_from_bytes(raw, policy=default)
    files = [(part.get_filename(), part.get_content_type(), part.get_content())
             for part in msg.iter_attachments()]
    assert files == [("manual.pdf", "application/pdf", PDF),
                     ("Bildschirmfoto über.png", "image/png", png())]
    assert "Here is the manual" in text_of(raw)
