"""Bounces through the real worker, spool, sweep and SQLite files (no serve process; the
clock is the settable one): which ticket a bounce finds, what it marks, what is withheld,
and the bad input of the issue: a bounce naming no message of ours, a forged one, a
malformed report. End to end over SMTP: test_bounces_e2e.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from maildaemon.config import config_from_dict
from maildaemon.render import Renderer
from maildaemon.spool import Incoming
from maildaemon.sweeps import Sweeper
from maildaemon.views import ticket_json
from maildaemon.workproc import Parts, worker_parts
from tests.conftest import SettableClock

START = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)
DOMAIN = "healthsync.com"
ANN = "ann@clinic.example"


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock(START)


@pytest.fixture
def parts(tmp_path: Path, clock: SettableClock) -> Iterator[Parts]:
    config = config_from_dict({"mail": {"domain": DOMAIN},
                               "storage": {"data_dir": str(tmp_path / "data")},
                               "outbound": {"maildir": str(tmp_path / "out")},
                               "teams": {"default": ["dora@healthsync.com"]}})
    made = worker_parts(config, clock)
    yield made
    made.checkpointer.stop()


def run(parts: Parts, raw: bytes, sender: str | None) -> tuple[str, str | None]:
    parts.spool.put_many([Incoming(sender, (f"support@{DOMAIN}",), raw, "t")])
    [done] = parts.worker.process_batch(1)
    return done.outcome, done.ticket


def customer_mail(subject: str = "Upload fails", body: str = "It fails at 99%.",
                  message_id: str = "<c1@clinic.example>", **headers: str) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = f"Ann <{ANN}>", f"support@{DOMAIN}", subject
    msg["Message-ID"], msg["Date"] = message_id, "Mon, 30 Nov 2026 09:29:00 +0000"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg.as_bytes()


def conn(parts: Parts) -> Any:
    return parts.worker.store.conn  # type: ignore[attr-defined]


def shown(parts: Parts, number: str) -> dict[str, Any]:
    reads = parts.worker.store.reads  # type: ignore[attr-defined]
    return ticket_json(reads, reads.ticket_row(number))


def events(parts: Parts, number: str, type_: str) -> list[str]:
    return [e["detail"] for e in shown(parts, number)["events"] if e["type"] == type_]


def ack_id(parts: Parts) -> str:
    return str(conn(parts).execute("SELECT message_id FROM outbox WHERE kind = 'ack'"
                                   " ORDER BY id DESC").fetchone()[0])


def report(recipient: str, status: str = "5.1.1", returned: str = "") -> bytes:
    """A Postfix delivery report; `returned`: the headers of our message it returns."""
    headers = "" if not returned else (
        "--R\r\nContent-Type: text/rfc822-headers\r\n\r\n" + returned + "\r\n")
    return (
        "Return-Path: <>\r\nFrom: MAILER-DAEMON@mx.clinic.example\r\n"
        f"To: support@{DOMAIN}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <r1@mx.clinic.example>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=R\r\n\r\n"
        "--R\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--R\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.clinic.example\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; 550 {status} <{recipient}>: User unknown\r\n\r\n"
        + headers + "--R--\r\n").encode()


def opened(parts: Parts) -> str:
    outcome, number = run(parts, customer_mail(), ANN)
    assert outcome == "new_ticket" and number
    return number


def test_a_bounce_without_returned_headers_finds_our_latest_mail_to_the_address(
        parts: Parts, clock: SettableClock) -> None:
    number = opened(parts)
    clock.now += timedelta(minutes=5)
    assert run(parts, report(ANN), "") == ("automatic_on_ticket", number)
    [detail] = events(parts, number, "bounce")
    assert detail == (f"5.1.1 {ANN}: permanent failure: marked undeliverable "
                      f"(smtp; 550 5.1.1 <{ANN}>: User unknown)")
    [link] = events(parts, number, "bounce_link")
    assert f"our latest mail to {ANN}" in link
    data = shown(parts, number)
    assert data["delivery_failed"] is True and data["undeliverable"][0]["status"] == "5.1.1"


def test_a_bounce_older_than_the_window_or_for_a_stranger_is_automatic_mail_only(
        parts: Parts, clock: SettableClock) -> None:
    number = opened(parts)
    assert run(parts, report("nobody@clinic.example"), "") == ("automatic", None)
    clock.now += timedelta(days=8)  # our mail to ann is older than the bounce window
    assert run(parts, report(ANN).replace(b"<r1@", b"<r2@"), "") == ("automatic", None)
    assert conn(parts).execute("SELECT count(*) FROM undeliverable").fetchone()[0] == 0
    assert events(parts, number, "bounce") == []
    reasons = [r[0] for r in conn(parts).execute("SELECT reason FROM automatic_mail")]
    assert reasons == ["delivery_status", "delivery_status"]


def test_returned_headers_find_the_ticket_and_a_forged_id_finds_none(
        parts: Parts, clock: SettableClock) -> None:
    number = opened(parts)
    ours = ack_id(parts)
    other = "someone-else@clinic.example"  # never mailed: only the headers can find it
    returned = f"From: support@{DOMAIN}\r\nTo: {ANN}\r\nMessage-ID: {ours}\r\n"
    assert run(parts, report(other, returned=returned), "") == \
        ("automatic_on_ticket", number)
    assert events(parts, number, "bounce") == [
        f"5.1.1 {other}: permanent failure of an address not on {number}: not marked "
        f"(smtp; 550 5.1.1 <{other}>: User unknown)"]
    forged = returned.replace(ours, ours.replace(ours[-20:-13], "0000000"))
    raw = report(other, returned=forged).replace(b"<r1@", b"<r9@")
    assert run(parts, raw, "") == ("automatic", None)


def test_an_exim_failure_notice_without_a_report_is_linked_too(parts: Parts) -> None:
    number = opened(parts)
    notice = (
        "Return-path: <>\r\nFrom: Mail Delivery System <Mailer-Daemon@mx.clinic.example>\r\n"
        f"To: support@{DOMAIN}\r\nSubject: Mail delivery failed: returning message to sender"
        "\r\nMessage-Id: <E1abc-0001@mx.clinic.example>\r\nX-Failed-Recipients: "
        f"{ANN}\r\nAuto-Submitted: auto-replied\r\n\r\n"
        "This message was created automatically by mail delivery software.\r\n\r\n"
        "A message that you sent could not be delivered to one or more of its\r\n"
        "recipients. This is a permanent error. The following address(es) failed:\r\n\r\n"
        f"  {ANN}\r\n    SMTP error from remote mail server after RCPT TO:<{ANN}>:\r\n"
        "    550 5.1.1 User unknown\r\n\r\n"
        "------ This is a copy of the message, including all the headers. ------\r\n\r\n"
        f"From: support@{DOMAIN}\r\nTo: {ANN}\r\nMessage-ID: {ack_id(parts)}\r\n"
        f"Subject: [{number}] Upload fails\r\n\r\nWe received your request.\r\n").encode()
    assert run(parts, notice, "") == ("automatic_on_ticket", number)
    [detail] = events(parts, number, "bounce")
    assert detail.startswith(f"5.1.1 {ANN}: permanent failure: marked undeliverable")
    [automated] = events(parts, number, "automated")
    assert automated == "bounce (failure_notice)"


@pytest.mark.parametrize("junk", [
    b"Final-Recipient: rfc822;\r\nAction: failed\r\nStatus: banana\r\n",
    b"\x00\xff\xfe garbage \xc3\x28 Status: 5.1.1\r\n\r\n\r\n",
    b"Final-Recipient: x; not-an-address\r\nAction: failed\r\nStatus: 5.1.1\r\n",
    b"Final-Recipient: rfc822; " + b"a" * 5000 + b"@x.org\r\nStatus: 5.9.9999\r\n",
])
def test_a_malformed_report_marks_nobody_and_is_kept(parts: Parts, junk: bytes) -> None:
    opened(parts)
    raw = report(ANN).split(b"Reporting-MTA")[0] + junk + b"\r\n--R--\r\n"
    outcome, _ = run(parts, raw, "")
    assert outcome in ("automatic", "automatic_on_ticket")
    assert conn(parts).execute("SELECT count(*) FROM undeliverable").fetchone()[0] == 0


def test_only_a_persons_mail_clears_the_mark(parts: Parts, clock: SettableClock) -> None:
    number = opened(parts)
    run(parts, report(ANN), "")
    ooo = customer_mail("Automatic reply: Upload fails", "Away.", "<o1@clinic.example>",
                        Auto_Submitted="auto-replied", In_Reply_To=ack_id(parts))
    assert run(parts, ooo, ANN) == ("automatic_on_ticket", number)
    assert shown(parts, number)["delivery_failed"] is True
    clock.now += timedelta(hours=2)
    reply = customer_mail(f"Re: [{number}] Upload fails", "Here is the log.",
                          "<c2@clinic.example>", In_Reply_To=ack_id(parts))
    assert run(parts, reply, ANN) == ("followup", number)
    assert shown(parts, number)["delivery_failed"] is False
    [restored] = events(parts, number, "delivery_restored")
    assert restored.startswith(f"{ANN} wrote again: no longer marked undeliverable (was 5.1.1")


def test_a_resolved_ticket_of_an_undeliverable_requester_goes_to_agents_not_closed(
        parts: Parts, clock: SettableClock) -> None:
    number = opened(parts)
    store = parts.worker.store
    with store.transaction():  # an agent resolved it; the notice bounces afterwards
        row = store.ticket(number)  # type: ignore[attr-defined]
        assert row is not None
        store.set_status(row.id, "resolved", "2026-11-30T10:00:00Z",  # type: ignore[attr-defined]
                         "2026-12-07T10:00:00Z")
    run(parts, report(ANN), "")
    config = parts.worker.config
    sweeper = Sweeper(config, store, Renderer(DOMAIN, parts.worker.secret))  # type: ignore[arg-type]
    done = sweeper.run(START + timedelta(days=8))
    assert done["hand_over"] == 1 and done["close"] == 0
    data = shown(parts, number)
    assert data["status"] == "open"
    [handed] = events(parts, number, "delivery_failed")
    assert handed.startswith(f"instead of the closing: {ANN} is undeliverable (5.1.1")
    kinds = [r[0] for r in conn(parts).execute("SELECT kind FROM outbox ORDER BY id")]
    assert kinds == ["ack", "notify_new_ticket", "notify_delivery_failed"]
    notice = conn(parts).execute("SELECT r.raw FROM outbox o JOIN outbox_raw r ON"
                                 " r.outbox_id = o.id WHERE o.kind = 'notify_delivery_failed'"
                                 ).fetchone()[0]
    assert b"Delivery:" in bytes(notice) and b"undeliverable" in bytes(notice)
    assert sweeper.run(START + timedelta(days=30))["hand_over"] == 0
    assert json.loads(json.dumps(data))["undeliverable"][0]["address"] == ANN
