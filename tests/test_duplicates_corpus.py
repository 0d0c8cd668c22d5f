"""The same issue sent twice, on real mail: every message of ../shared/corpus, sent again
with a new Message-ID to another of our addresses, opens no second ticket and is stored.

Real mail has every shape the duplicate rule must see through: HTML-only mail, legacy
charsets, forwards, broken MIME, mail without a Message-ID. Through the real worker, spool
and SQLite files; skipped, with the reason, where the corpus is absent.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from maildaemon.config import config_from_dict
from maildaemon.spool import Incoming
from maildaemon.workproc import worker_parts
from tests.conftest import CORPUS

pytestmark = pytest.mark.skipif(
    not (CORPUS / "index.tsv").is_file(),
    reason=f"the real-mail corpus is absent ({CORPUS}); this test reads it in place",
)

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
MESSAGE_ID = re.compile(rb"^message-id:.*(?:\r?\n[ \t].*)*\r?\n", re.IGNORECASE | re.MULTILINE)


def corpus() -> list[bytes]:
    rows = (CORPUS / "index.tsv").read_text().splitlines()[1:]
    return [(CORPUS / row.split("\t")[0]).read_bytes() for row in rows if row.strip()]


def sent_again(raw: bytes, n: int) -> bytes:
    """The same message with a Message-ID of its own, as a second send writes it."""
    newline = b"\r\n" if b"\r\n" in raw[:4096] else b"\n"
    end = raw.find(newline * 2)
    head, body = (raw[:end], raw[end:]) if end >= 0 else (raw, b"")
    head = MESSAGE_ID.sub(b"", head + newline).removesuffix(newline)
    return b"Message-ID: <again-%d@corpus.example>" % n + newline + head + body


def test_every_corpus_message_sent_again_joins_a_ticket_and_opens_none(tmp_path: Path
                                                                       ) -> None:
    config = config_from_dict({"storage": {"data_dir": str(tmp_path / "data")},
                               "outbound": {"maildir": str(tmp_path / "out")}})
    parts = worker_parts(config, lambda: NOW)
    conn = parts.worker.store.conn  # type: ignore[attr-defined]
    raws = corpus()

    def run(rcpt: str, messages: list[bytes]) -> list[str]:
        # No envelope sender: Return-Path says it, as `ingest` reads it from an MTA's pipe.
        ids = parts.spool.put_many([Incoming(None, (rcpt,), raw, "corpus") for raw in messages])
        outcomes: dict[str, str] = {}
        for _ in range(len(messages)):  # bounded: each batch takes at least one message
            done = parts.worker.process_batch()
            outcomes.update((d.spool_id, d.outcome) for d in done)
            if not done:
                break
        return [outcomes[i] for i in ids]

    try:
        first = run("support@healthsync.com", raws)
        tickets = conn.execute("SELECT count(*) FROM tickets").fetchone()[0]
        # Sent again: each message that went on a ticket (not automatic mail, not what the
        # first pass found to be a copy of another corpus file by its Message-ID and body).
        kept = [n for n, outcome in enumerate(first) if outcome in ("new_ticket", "followup")]
        again = run("tech@healthsync.com", [sent_again(raws[n], n) for n in kept])
        assert conn.execute("SELECT count(*) FROM tickets").fetchone()[0] == tickets
        assert set(again) == {"followup"}  # each stored on a ticket, none dropped
        opened = first.count("new_ticket")
        assert opened > 150
        duplicates = conn.execute("SELECT count(*) FROM events WHERE type = 'duplicate'")
        assert duplicates.fetchone()[0] >= opened  # by the rule, not only by their headers
    finally:
        parts.checkpointer.stop()
