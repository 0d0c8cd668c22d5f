"""Issue 13, points 3 and 4 through the real worker, spool and SQLite files: each limit
and the duplicate rule hold inside one batch exactly as across batches.

The worker decides and renders a whole batch before it takes the write lock, then loads
each message's context again under it (worker.py, answers.render_inputs): what an earlier
message of the same batch changed (a flood reached, a ticket opened by the same text, a
confirmation just queued) must be seen there, as when each message comes on its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import Any

import pytest

from maildaemon.config import config_from_dict
from maildaemon.spool import Incoming
from maildaemon.workproc import Parts, worker_parts
from tests.conftest import SettableClock

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


class Desk:
    """A data directory worked by the real worker on a settable clock."""

    def __init__(self, tmp_path: Path, extra: dict[str, Any] | None = None) -> None:
        self.clock = SettableClock(T0)
        self.parts: Parts = worker_parts(config_from_dict({
            "storage": {"data_dir": str(tmp_path / "data")},
            "outbound": {"maildir": str(tmp_path / "out")}, **(extra or {})}), self.clock)

    def batch(self, raws: list[tuple[str, bytes]]) -> list[str]:
        """The messages (envelope recipient, bytes) in ONE batch."""
        self.parts.spool.put_many([Incoming("ann@example.org", (rcpt,), raw, "test")
                                   for rcpt, raw in raws])
        return [done.outcome for done in self.parts.worker.process_batch(len(raws))]

    def apart(self, raws: list[tuple[str, bytes]]) -> list[str]:
        """The same messages, each in a batch of its own."""
        return [self.batch([raw])[0] for raw in raws]

    def rows(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self.parts.worker.store.conn.execute(sql, args)]

    def count(self, sql: str, *args: object) -> int:
        return int(self.rows(sql, *args)[0][0])

    def outbox_kinds(self) -> list[str]:
        return [r[0] for r in self.rows("SELECT kind FROM outbox ORDER BY id")]

    def events(self, type_: str) -> list[str]:
        return [r[0] for r in self.rows("SELECT detail FROM events WHERE type = ? ORDER BY id",
                                        type_)]

    def close(self) -> None:
        self.parts.checkpointer.stop()


@pytest.fixture
def desks(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Desk, Desk]]:
    extra = getattr(request, "param", None)
    together, apart = Desk(tmp_path / "together", extra), Desk(tmp_path / "apart", extra)
    yield together, apart
    together.close()
    apart.close()


def robot(i: int, sender: str = "monitor@clinic.example") -> tuple[str, bytes]:
    """What a monitoring script writes: no Auto-Submitted, no Precedence, nothing."""
    return ("support@healthsync.com", (
        f"From: {sender}\r\nTo: support@healthsync.com\r\nSubject: ALERT node{i} disk 97%\r\n"
        f"Message-ID: <alert-{i}.{sender}>\r\nDate: Sat, 28 Nov 2026 08:59:00 +0000\r\n"
        f"\r\nnode{i}: /var is 97% full\r\n").encode())


def gmail(to: str, message_id: str, text: str = "The upload button spins forever.",
          subject: str = "Cannot upload my lab results") -> tuple[str, bytes]:
    """Gmail on the web: multipart/alternative, the text part and its HTML twin."""
    html = f'<div dir="ltr">{text}<div><br></div><div>Ann</div></div>'
    return (to, (
        f"MIME-Version: 1.0\r\nDate: Sat, 28 Nov 2026 08:58:00 +0000\r\n"
        f"Message-ID: {message_id}\r\nSubject: {subject}\r\nFrom: Ann Lee <ann@example.org>\r\n"
        f"To: {to}\r\nContent-Type: multipart/alternative; boundary=\"000000000000b1\"\r\n\r\n"
        "--000000000000b1\r\nContent-Type: text/plain; charset=\"UTF-8\"\r\n\r\n"
        f"{text}\r\n\r\nAnn\r\n\r\n"
        "--000000000000b1\r\nContent-Type: text/html; charset=\"UTF-8\"\r\n\r\n"
        f"{html}\r\n\r\n--000000000000b1--\r\n").encode())


def iphone(to: str, message_id: str, text: str = "The upload button spins forever."
           ) -> tuple[str, bytes]:
    """The same words from the iPhone's Mail app, minutes later, to another address."""
    return (to, (
        f"From: Ann Lee <ann@example.org>\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\nMime-Version: 1.0 (1.0)\r\n"
        "Date: Sat, 28 Nov 2026 09:03:00 +0100\r\nSubject: Cannot upload my lab results\r\n"
        f"Message-Id: {message_id}\r\nTo: {to}\r\nX-Mailer: iPhone Mail (21A329)\r\n\r\n"
        f"{text}\r\n\r\nAnn\r\n\r\nSent from my iPhone\r\n").encode())


# -- a flood --------------------------------------------------------------------------------

@pytest.mark.parametrize("desks", [{"flood": {"max_new_tickets": 5}}], indirect=True)
def test_a_flood_is_reached_inside_a_batch_as_across_batches(desks: tuple[Desk, Desk]
                                                             ) -> None:
    raws = [robot(i) for i in range(12)]
    together, apart = desks
    assert together.batch(raws) == apart.apart(raws) == ["new_ticket"] * 6 + ["followup"] * 6
    for desk in desks:
        subjects = [r[0] for r in desk.rows("SELECT subject FROM tickets ORDER BY id")]
        assert subjects == [f"ALERT node{i} disk 97%" for i in range(5)] + \
            ["Many new requests from monitor@clinic.example"]
        flood_id = desk.count("SELECT ticket_id FROM flood_tickets")
        assert desk.count("SELECT count(*) FROM messages WHERE ticket_id = ?"
                          " AND direction = 'inbound'", flood_id) == 7
        assert desk.count("SELECT count(*) FROM messages WHERE direction = 'inbound'") == 12
        # The five acknowledgements of the address's hour, then nothing: the flood ticket's
        # one answer falls under the same hourly limit.
        assert desk.outbox_kinds() == ["ack"] * 5
        assert len(desk.events("flood")) == 7 and len(desk.events("rate_limit")) == 1
        assert desk.count("SELECT count(*) FROM recent_openings") == 12


@pytest.mark.parametrize("desks", [{"flood": {"max_new_tickets": 2},
                                    "autoreply": {"max_per_hour": 50}}], indirect=True)
def test_the_flood_ticket_is_answered_once(desks: tuple[Desk, Desk]) -> None:
    raws = [robot(i) for i in range(6)]
    together, apart = desks
    assert together.batch(raws) == apart.apart(raws)
    for desk in desks:
        assert desk.outbox_kinds() == ["ack", "ack", "flood"]
        [(raw,)] = desk.rows("SELECT r.raw FROM outbox o JOIN outbox_raw r"
                             " ON r.outbox_id = o.id WHERE o.kind = 'flood'")
        sent = message_from_bytes(raw, policy=default)
        assert sent["Subject"].endswith("Many new requests from monitor@clinic.example")
        text = " ".join(sent.get_body(("plain",)).get_content().split())  # type: ignore[union-attr]
        assert "We will not confirm them one by one." in text


@pytest.mark.parametrize("desks", [{"flood": {"max_new_tickets": 3, "window_minutes": 10}}],
                         indirect=True)
def test_the_flood_ends_when_the_window_passes_and_the_ticket_is_reused(
        desks: tuple[Desk, Desk]) -> None:
    desk, _ = desks
    desk.apart([robot(i) for i in range(4)])
    assert desk.count("SELECT count(*) FROM tickets") == 4  # three, and the flood ticket
    desk.clock.now = T0 + timedelta(minutes=11)
    desk.apart([robot(10)])
    assert desk.count("SELECT count(*) FROM tickets") == 5  # quiet again: a ticket of its own
    desk.apart([robot(i) for i in range(11, 14)])  # three more within ten minutes
    assert desk.count("SELECT count(*) FROM tickets") == 7
    flood_id = desk.count("SELECT ticket_id FROM flood_tickets")
    assert desk.count("SELECT count(*) FROM messages WHERE ticket_id = ?"
                      " AND direction = 'inbound'", flood_id) == 2  # node3 and node13
    # The sweep's upkeep forgets the window once it has passed.
    assert desk.count("SELECT count(*) FROM recent_openings") == 8
    desk.parts.worker.store.forget_old_replies(T0 + timedelta(minutes=30))
    assert desk.count("SELECT count(*) FROM recent_openings") == 0


def test_other_senders_are_not_held_by_one_senders_flood(tmp_path: Path) -> None:
    desk = Desk(tmp_path, {"flood": {"max_new_tickets": 2}})
    try:
        desk.batch([robot(i) for i in range(4)] +
                   [robot(9, f"person{i}@example.org") for i in range(3)])
        assert desk.count("SELECT count(*) FROM tickets WHERE requester LIKE 'person%'") == 3
    finally:
        desk.close()


# -- per address and per ticket -------------------------------------------------------------

@pytest.mark.parametrize("desks", [{"autoreply": {"max_per_hour": 3, "max_per_day": 5}}],
                         indirect=True)
def test_the_daily_limit_holds_across_hours(desks: tuple[Desk, Desk]) -> None:
    desk, _ = desks
    hours = [0, 0, 0, 0, 2, 2, 2, 4, 25]
    for n, hour in enumerate(hours):
        desk.clock.now = T0 + timedelta(hours=hour, minutes=n)
        desk.apart([gmail("billing@healthsync.com", f"<d{n}@mail.gmail.com>",
                          subject=f"Invoice {n} wrong")])
    sent = [r[0] for r in desk.rows("SELECT created_at FROM outbox ORDER BY id")]
    # 3 in the first hour (hourly), 2 more at hour 2 (daily: 5), none at 4, one next day.
    assert [s[11:13] for s in sent] == ["09", "09", "09", "11", "11", "10"]
    assert len(desk.events("rate_limit")) == 1 and len(desk.events("daily_limit")) == 2


def test_a_reply_right_after_the_acknowledgement_is_stored_not_confirmed(
        desks: tuple[Desk, Desk]) -> None:
    opening = gmail("support@healthsync.com", "<open@mail.gmail.com>")
    reply = ("support@healthsync.com", (
        b"From: Ann Lee <ann@example.org>\r\nTo: support@healthsync.com\r\n"
        b"Subject: Re: Cannot upload my lab results\r\nMessage-ID: <more@mail.gmail.com>\r\n"
        b"In-Reply-To: <open@mail.gmail.com>\r\nReferences: <open@mail.gmail.com>\r\n\r\n"
        b"It also happens on the app.\r\n"))
    together, apart = desks
    assert together.batch([opening, reply]) == apart.apart([opening, reply]) == \
        ["new_ticket", "followup"]
    for desk in desks:
        assert desk.outbox_kinds() == ["ack"]
        assert desk.count("SELECT count(*) FROM messages WHERE direction = 'inbound'") == 2
        [limit] = desk.events("ack_limit")
        assert "confirmed a message less than an hour ago" in limit
    apart.clock.now = T0 + timedelta(minutes=61)
    later = ("support@healthsync.com", reply[1].replace(b"<more@", b"<later@"))
    assert apart.apart([later]) == ["followup"]
    assert apart.outbox_kinds() == ["ack", "reply_received"]


# -- the same issue sent twice --------------------------------------------------------------

def test_the_same_text_to_support_and_tech_makes_one_ticket_in_a_batch_and_apart(
        desks: tuple[Desk, Desk]) -> None:
    first = gmail("support@healthsync.com", "<CAF1+abc@mail.gmail.com>")
    second = iphone("tech@healthsync.com", "<5D1E2A07-77@example.org>")
    together, apart = desks
    assert together.batch([first, second]) == apart.apart([first, second]) == \
        ["new_ticket", "followup"]
    for desk in desks:
        [(number, queue)] = desk.rows("SELECT number, queue FROM tickets")
        assert queue == "support"
        assert desk.count("SELECT count(*) FROM messages WHERE direction = 'inbound'") == 2
        assert desk.outbox_kinds() == ["ack", "duplicate_received"]
        [event] = desk.events("duplicate")
        assert event == ("<5D1E2A07-77@example.org> from ann@example.org to "
                         f"tech@healthsync.com: the same request as the one that opened "
                         f"{number}, added to it")
        [(raw,)] = desk.rows("SELECT r.raw FROM outbox o JOIN outbox_raw r"
                             " ON r.outbox_id = o.id WHERE o.kind = 'duplicate_received'")
        sent = message_from_bytes(raw, policy=default)
        assert sent["Subject"] == f"[{number}] Cannot upload my lab results"
        assert sent["In-Reply-To"] == "<5D1E2A07-77@example.org>"
        text = " ".join(sent.get_body(("plain",)).get_content().split())  # type: ignore[union-attr]
        assert f"which is already ticket {number} with our support team" in text


def test_a_third_copy_within_the_hour_is_stored_without_another_notice(tmp_path: Path
                                                                        ) -> None:
    desk = Desk(tmp_path)
    try:
        copies = [gmail("support@healthsync.com", "<1@mail.gmail.com>"),
                  iphone("tech@healthsync.com", "<2@example.org>"),
                  iphone("billing@healthsync.com", "<3@example.org>")]
        assert desk.batch(copies) == ["new_ticket", "followup", "followup"]
        assert desk.outbox_kinds() == ["ack", "duplicate_received"]
        assert len(desk.events("duplicate")) == 2 and len(desk.events("ack_limit")) == 1
    finally:
        desk.close()


@pytest.mark.parametrize(("rule", "minutes", "tickets"), [
    ("subject_and_text", 30, 1),
    ("subject_and_text", 24 * 60 + 1, 2),  # outside the window: the same text, a new ticket
    ("off", 30, 2),
])
def test_the_window_and_the_rule_are_configurable(tmp_path: Path, rule: str, minutes: int,
                                                  tickets: int) -> None:
    desk = Desk(tmp_path, {"duplicates": {"match": rule}})
    try:
        desk.apart([gmail("support@healthsync.com", "<a@mail.gmail.com>")])
        desk.clock.now = T0 + timedelta(minutes=minutes)
        desk.apart([iphone("tech@healthsync.com", "<b@example.org>")])
        assert desk.count("SELECT count(*) FROM tickets") == tickets
    finally:
        desk.close()


def test_the_same_text_after_closing_opens_a_linked_ticket(tmp_path: Path) -> None:
    desk = Desk(tmp_path)
    try:
        desk.apart([gmail("support@healthsync.com", "<a@mail.gmail.com>")])
        desk.parts.worker.store.conn.execute("UPDATE tickets SET status = 'closed'")
        desk.apart([iphone("tech@healthsync.com", "<b@example.org>")])
        [(first,), (second,)] = desk.rows("SELECT number FROM tickets ORDER BY id")
        links = desk.rows("SELECT t.number, r.other_number FROM related r"
                          " JOIN tickets t ON t.id = r.ticket_id ORDER BY t.id")
        assert links == [(first, second), (second, first)]
    finally:
        desk.close()


def headerless(received: str, date: str) -> tuple[str, bytes]:
    """A script's mail without a Message-ID, as a relay hands it over (again)."""
    return ("support@healthsync.com", (
        f"Received: from relay.clinic.example by mx.healthsync.com; {date}\r\n"
        f"Received: {received}\r\nFrom: lab-export@clinic.example\r\n"
        "To: support@healthsync.com\r\nSubject: Nightly export failed\r\n\r\n"
        "Export job 42 failed: connection refused.\r\n").encode())


def test_mail_without_a_message_id_is_stored_once_within_the_window(tmp_path: Path) -> None:
    desk = Desk(tmp_path)
    try:
        first = headerless("from a", "Sat, 28 Nov 2026 09:00:00 +0000")
        again = headerless("from b", "Sat, 28 Nov 2026 09:05:00 +0000")  # other bytes
        assert desk.batch([first, again]) == ["new_ticket", "duplicate"]
        desk.clock.now = T0 + timedelta(hours=23)
        assert desk.apart([headerless("from c", "Sun, 29 Nov 2026 08:00:00 +0000")]) == \
            ["duplicate"]
        desk.clock.now = T0 + timedelta(hours=25)  # the window counts from the first copy
        assert desk.apart([headerless("from d", "Sun, 29 Nov 2026 10:00:00 +0000")]) == \
            ["new_ticket"]
        desk.clock.now = T0 + timedelta(hours=26)  # ... and now from this one
        assert desk.apart([headerless("from e", "Sun, 29 Nov 2026 11:00:00 +0000")]) == \
            ["duplicate"]
        assert desk.count("SELECT count(*) FROM messages") >= 2
    finally:
        desk.close()
