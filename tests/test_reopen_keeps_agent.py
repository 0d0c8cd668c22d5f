"""Issue 12, point 8: a customer who comes back keeps their agent.

A reply within `reopen_days` reopens the ticket, assignee and all; a reply after it opens a
new ticket linked to the old one and assigned to the old ticket's agent. Through the real
worker, on real SQLite files, with the clock moved by hand.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from maildaemon.config import config_from_dict
from maildaemon.domain import Status
from maildaemon.spool import Incoming
from maildaemon.store import iso
from maildaemon.workproc import Parts, worker_parts
from tests.conftest import SettableClock

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
AGENT = "sam@healthsync.com"


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock(START)


@pytest.fixture
def parts(tmp_path: Path, clock: SettableClock) -> Iterator[Parts]:
    made = worker_parts(config_from_dict({"storage": {"data_dir": str(tmp_path / "data")},
                                          "outbound": {"maildir": str(tmp_path / "out")}}),
                        clock)
    yield made
    made.checkpointer.stop()


def deliver(parts: Parts, raw: bytes) -> tuple[str, str | None]:
    parts.spool.put_many([Incoming("ann@example.org", ("support@healthsync.com",), raw, "t")])
    [done] = parts.worker.process_batch()
    return done.outcome, done.ticket


def mail(message_id: str, subject: str) -> bytes:
    return (f"From: Ann <ann@example.org>\r\nTo: support@healthsync.com\r\n"
            f"Subject: {subject}\r\nMessage-ID: <{message_id}@example.org>\r\n\r\n"
            "It happened again.\r\n").encode()


def closed_and_assigned(parts: Parts, clock: SettableClock) -> str:
    outcome, number = deliver(parts, mail("first", "Upload fails"))
    assert outcome == "new_ticket" and number
    store = parts.worker.store
    with store.transaction():
        row = store.ticket(number)  # type: ignore[attr-defined]
        store.assign(row.id, AGENT)  # type: ignore[attr-defined]
        store.set_status(row.id, Status.CLOSED, iso(clock.now), None)  # type: ignore[attr-defined]
    return number


def assignee_of(parts: Parts, number: str) -> str | None:
    row = parts.worker.store.ticket(number)  # type: ignore[attr-defined]
    return None if row is None else row.assignee


def test_a_reply_within_the_window_reopens_the_ticket_with_its_agent(
        parts: Parts, clock: SettableClock) -> None:
    number = closed_and_assigned(parts, clock)
    clock.now += timedelta(days=3)
    assert deliver(parts, mail("second", f"Re: [{number}] Upload fails")) == \
        ("followup", number)
    assert parts.worker.store.ticket(number).status == Status.OPEN  # type: ignore[attr-defined]
    assert assignee_of(parts, number) == AGENT


def test_a_reply_after_the_window_opens_a_linked_ticket_for_the_same_agent(
        parts: Parts, clock: SettableClock) -> None:
    number = closed_and_assigned(parts, clock)
    clock.now += timedelta(days=30)
    outcome, new_number = deliver(parts, mail("third", f"Re: [{number}] Upload fails"))
    assert outcome == "new_ticket" and new_number and new_number != number
    assert assignee_of(parts, new_number) == AGENT
    events = parts.worker.store.conn.execute(  # type: ignore[attr-defined]
        "SELECT e.detail FROM events e JOIN tickets t ON t.id = e.ticket_id"
        " WHERE t.number = ? AND e.type = 'assigned'", (new_number,)).fetchall()
    assert [e[0] for e in events] == [f"to {AGENT}, the agent of {number}"]


def test_a_new_ticket_that_follows_nothing_has_no_agent(parts: Parts) -> None:
    outcome, number = deliver(parts, mail("fresh", "Another question"))
    assert outcome == "new_ticket" and number
    assert assignee_of(parts, number) is None
