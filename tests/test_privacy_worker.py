"""Sensitive data around the worker: the spool's copy scrubbed, a message that cannot be
masked held rather than kept, the ops alert's subject masked, an agent's text masked."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from maildaemon import masking
from maildaemon.config import Config, config_from_dict
from maildaemon.held_alert import subject_of
from maildaemon.spool import Incoming, Spool
from maildaemon.store import Store, open_reads
from maildaemon.workproc import Parts, worker_parts
from tests.conftest import Installation
from tests.test_masking import leaked, shown

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
SECRET = b"my card 4111 1111 1111 1111 was charged twice"
RAW = (b"From: Dana <dana@example.org>\r\nTo: support@healthsync.com\r\n"
       b"Subject: Refund for card 4111 1111 1111 1111\r\nMessage-ID: <s1@example.org>\r\n"
       b"Date: Sat, 28 Nov 2026 10:00:00 +0000\r\n\r\n" + SECRET + b"\r\n")


def spool_bytes(data_dir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(data_dir.glob("spool.sqlite3*")))


@pytest.mark.parametrize("scrubbed", [True, False])
def test_a_masked_messages_spool_copy_leaves_no_trace(tmp_path: Path, scrubbed: bool) -> None:
    spool = Spool(tmp_path)
    spool.put_many([Incoming("dana@example.org", ("support@healthsync.com",), RAW)])
    [entry] = spool.claim_batch(1)
    assert SECRET in spool_bytes(tmp_path)
    spool.finish_many([entry.id], scrub=[entry.id] if scrubbed else [])
    # Without the scrub the deleted bytes stay in the log (and the database's free pages).
    assert (SECRET in spool_bytes(tmp_path)) is not scrubbed
    assert spool.rows() == []
    spool.close()


def test_a_scrub_another_writer_prevents_is_done_at_the_next_finish(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.put_many([Incoming("dana@example.org", ("support@healthsync.com",), RAW),
                    Incoming("eve@example.org", ("support@healthsync.com",), b"Hi\r\n\r\nx")])
    masked, plain = spool.claim_batch(2)
    other = sqlite3.connect(tmp_path / "spool.sqlite3", isolation_level=None)
    other.execute("BEGIN")  # a reader (`spool ls`, a backup) on the log as it is
    other.execute("SELECT count(*) FROM bodies").fetchall()
    try:
        spool.finish_many([masked.id], scrub=[masked.id])  # does not wait long on it
        assert spool.log_to_scrub and SECRET in spool_bytes(tmp_path)
    finally:
        other.execute("COMMIT")
        other.close()
    spool.finish_many([plain.id])
    assert not spool.log_to_scrub and SECRET not in spool_bytes(tmp_path)
    spool.close()


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[tuple[Config, Parts]]:
    config = config_from_dict({"storage": {"data_dir": str(tmp_path / "data")},
                               "outbound": {"maildir": str(tmp_path / "out")},
                               "spool": {"max_attempts": 1}})
    built = worker_parts(config, lambda: NOW)
    yield config, built
    built.checkpointer.stop()
    for store in (built.worker.store, built.sender.store):
        assert isinstance(store, Store)
        store.close()
    built.spool.close()


def test_the_worker_keeps_the_masked_copy_and_scrubs_the_spool(
        parts: tuple[Config, Parts]) -> None:
    config, built = parts
    built.spool.put_many([Incoming("dana@example.org", ("support@healthsync.com",), RAW)])
    [done] = built.worker.process_batch()
    assert done.outcome == "new_ticket" and done.ticket is not None
    assert "sensitive_data_removed: card number removed from the subject and the text" \
        in done.summary
    assert SECRET not in spool_bytes(config.data_dir)
    reads = open_reads(config)
    row = reads.ticket_row(done.ticket)
    assert row is not None
    [message] = [m for m in reads.messages_of(row["id"]) if m["direction"] == "inbound"]
    raw = reads.raw_message(message["raw_id"])
    assert raw is not None and raw.startswith(b"X-Maildaemon-Masked: card number")
    assert leaked(shown(raw)) == [] and leaked(message["text"]) == []


def test_a_message_that_cannot_be_masked_is_held_not_kept(
        parts: tuple[Config, Parts], monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> None:
        raise ValueError("a structure nobody expected")

    monkeypatch.setattr(masking, "rewrite", broken)
    config, built = parts
    built.spool.put_many([Incoming("dana@example.org", ("support@healthsync.com",), RAW)])
    [done] = built.worker.process_batch()
    assert done.outcome == "held" and "could not all be masked" in done.detail
    assert "4111" not in done.detail
    [row] = built.spool.rows()
    assert row.state == "held" and "could not all be masked" in row.error
    with sqlite3.connect(config.data_dir / "maildaemon.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM tickets").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM raw_messages").fetchone() == (0,)


def test_the_ops_alert_names_a_held_messages_subject_masked() -> None:
    assert subject_of(RAW) == "Refund for card **** **** **** 1111"


def test_an_agents_reply_and_note_are_masked(installation: Installation, tmp_path: Path) -> None:
    installation.cli("ingest", "-", stdin=RAW.replace(b"4111 1111 1111 1111", b"on file"))
    [ticket] = installation.tickets()
    body = tmp_path / "answer.txt"
    body.write_text("We refunded card 4111 1111 1111 1111. Your PIN: 4821\n")
    result = installation.cli("reply", ticket["number"], "--from", "sam@healthsync.com",
                              "--body-file", str(body))
    assert "masked in your text: card number, password or PIN" in result.stderr
    installation.cli("note", ticket["number"], "--body-file", str(body))
    answer = [raw for raw in installation.outbound() if b"We refunded card" in raw
              or b"We refunded" in raw]
    assert answer and all(leaked(shown(raw)) == [] for raw in installation.outbound())
    assert "We refunded card **** **** **** 1111. Your PIN: ********" in shown(answer[-1])
    shown_ticket = installation.show(ticket["number"])
    [note] = [e for e in shown_ticket["events"] if e["type"] == "note"]
    assert note["detail"] == "We refunded card **** **** **** 1111. Your PIN: ********"


def test_decide_shows_what_would_be_masked_and_no_value(installation: Installation,
                                                         tmp_path: Path) -> None:
    installation.cli("ingest", "-", stdin=RAW.replace(b"4111 1111 1111 1111", b"on file"))
    eml = tmp_path / "card.eml"
    eml.write_bytes(RAW.replace(b"<s1@", b"<s2@"))
    text = installation.cli("decide", str(eml)).stdout
    data = installation.cli("decide", str(eml), "--json").stdout
    assert leaked(text) == [] and leaked(data) == []
    assert "sensitive_data_removed: card number removed from the subject and the text" in text
    assert '"template": "sensitive_data"' in data
    assert "Refund for card **** **** **** 1111" in text
