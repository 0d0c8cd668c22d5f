"""A batch is decided and rendered before the write lock, and written as if one by one.

The worker renders every message's mail with no transaction open, then checks each
message's context again under the lock: what an earlier message of the same batch changed
(a duplicate, a rate limit reached, a ticket number drawn) is seen, as when each message
comes in a batch of its own. Through the real worker, spool and SQLite files.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from maildaemon.config import config_from_dict
from maildaemon.spool import Incoming
from maildaemon.store import tickets
from maildaemon.workproc import Parts, worker_parts

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def make_parts(tmp_path: Path, extra: dict[str, Any] | None = None) -> Parts:
    return worker_parts(config_from_dict({"storage": {"data_dir": str(tmp_path / "data")},
                                          "outbound": {"maildir": str(tmp_path / "out")},
                                          **(extra or {})}), lambda: NOW)


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[Parts]:
    made = make_parts(tmp_path)
    yield made
    made.checkpointer.stop()


def mail(sender: str, message_id: str, subject: str = "Cannot upload my lab results") -> bytes:
    return (f"From: Ann <{sender}>\r\nTo: support@healthsync.com\r\nSubject: {subject}\r\n"
            f"Message-ID: {message_id}\r\nDate: Sat, 28 Nov 2026 08:59:00 +0000\r\n\r\n"
            "The upload button spins forever.\r\n").encode()


def one_batch(parts: Parts, raws: list[bytes]) -> list[str]:
    parts.spool.put_many([Incoming("ann@example.org", ("support@healthsync.com",), raw, "t")
                          for raw in raws])
    return [done.outcome for done in parts.worker.process_batch(len(raws))]


def count(parts: Parts, sql: str) -> int:
    return int(parts.worker.store.conn.execute(sql).fetchone()[0])


def test_every_template_is_rendered_with_no_transaction_open(
        parts: Parts, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = parts.worker.store.conn
    render = parts.worker.renderer.render
    seen: list[bool] = []

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(conn.in_transaction)
        return render(*args, **kwargs)

    monkeypatch.setattr(parts.worker.renderer, "render", spy)
    raws = [mail(f"p{i}@example.org", f"<m{i}@example.org>") for i in range(5)]
    assert one_batch(parts, raws) == ["new_ticket"] * 5
    assert seen == [False] * 5
    assert count(parts, "SELECT count(*) FROM outbox WHERE kind = 'ack'") == 5


def test_a_duplicate_in_the_same_batch_is_seen_under_the_lock(parts: Parts) -> None:
    twice = mail("ann@example.org", "<same@example.org>")
    assert one_batch(parts, [twice, twice]) == ["new_ticket", "duplicate"]
    assert count(parts, "SELECT count(*) FROM tickets") == 1
    assert count(parts, "SELECT count(*) FROM outbox") == 1


def test_the_rate_limit_is_reached_inside_a_batch_as_across_batches(tmp_path: Path) -> None:
    limited = {"autoreply": {"max_per_hour": 3}}
    raws = [mail("ann@example.org", f"<r{i}@example.org>", f"Problem {i}") for i in range(5)]
    together, apart = make_parts(tmp_path / "a", limited), make_parts(tmp_path / "b", limited)
    try:
        assert one_batch(together, raws) == ["new_ticket"] * 5
        for raw in raws:
            one_batch(apart, [raw])
        sent = "SELECT count(*) FROM outbox"
        assert count(together, sent) == count(apart, sent) == 3
    finally:
        together.checkpointer.stop()
        apart.checkpointer.stop()


def test_a_number_is_never_drawn_for_two_tickets_of_one_batch(
        parts: Parts, monkeypatch: pytest.MonkeyPatch) -> None:
    draws = iter([5, 5, 5, 7, 9, 11, 13])
    monkeypatch.setattr(tickets.secrets, "randbelow", lambda _high: next(draws))
    raws = [mail(f"p{i}@example.org", f"<n{i}@example.org>") for i in range(2)]
    assert one_batch(parts, raws) == ["new_ticket"] * 2
    numbers = parts.worker.store.conn.execute("SELECT number FROM tickets ORDER BY id")
    assert [n[0] for n in numbers] == ["HS-000005", "HS-000007"]
    acks = parts.worker.store.conn.execute(
        "SELECT t.number, r.raw FROM outbox o JOIN outbox_raw r ON r.outbox_id = o.id"
        " JOIN tickets t ON t.id = o.ticket_id ORDER BY o.id").fetchall()
    assert [(number, f"[{number}]".encode() in raw) for number, raw in acks] == \
        [("HS-000005", True), ("HS-000007", True)]
