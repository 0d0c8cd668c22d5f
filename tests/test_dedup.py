"""A message delivered twice is processed once, whichever way it came and whatever it is.

Mail with a Message-ID is recognised on the rows stored under that Message-ID (their dedup
hash: Message-ID and body); mail without one by the hash of its sender, subject and body in
the processed table, within `[duplicates] window_minutes` (test_limits_worker.py). Both
through the real worker, spool and SQLite files. The outcomes run on each backend (the
`storage` fixture, conftest.py); where the hashes are kept and the query plans of the check
(`sqlite_parts`, `Store`) are SQLite's own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from maildaemon.config import Config, config_from_dict
from maildaemon.spool import Incoming
from maildaemon.store import HASHES_UNDER_MESSAGE_ID, KEY_HASH_PROCESSED, Store, open_reads
from maildaemon.workproc import Parts, worker_parts

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def settings(storage: dict[str, Any], tmp_path: Path) -> Config:
    return config_from_dict({"storage": storage,
                             "outbound": {"maildir": str(tmp_path / "out")}})


@pytest.fixture
def config(storage: dict[str, Any], tmp_path: Path) -> Config:
    return settings(storage, tmp_path)


@pytest.fixture
def parts(config: Config) -> Iterator[Parts]:
    made = worker_parts(config, lambda: NOW)
    yield made
    made.close()


@pytest.fixture
def sqlite_parts(tmp_path: Path) -> Iterator[Parts]:
    made = worker_parts(settings({"data_dir": str(tmp_path / "data")}, tmp_path), lambda: NOW)
    yield made
    made.checkpointer.stop()


def outcomes(parts: Parts, *raws: bytes) -> list[str]:
    """Each message in a batch of its own, in order, as separate deliveries arrive."""
    found = []
    for raw in raws:
        parts.spool.put_many([Incoming("ann@example.org", ("support@healthsync.com",), raw,
                                       "test")])
        [done] = parts.worker.process_batch()
        found.append(done.outcome)
    return found


def mail(body: str = "The printer is on fire.", message_id: str | None = "<fire@example.org>",
         extra: str = "") -> bytes:
    head = f"Message-ID: {message_id}\r\n" if message_id else ""
    return (f"From: ann@example.org\r\nTo: support@healthsync.com\r\nSubject: printer\r\n"
            f"{head}{extra}\r\n{body}\r\n").encode()


def test_the_same_message_again_is_a_duplicate_found_on_its_message_row(
        sqlite_parts: Parts) -> None:
    assert outcomes(sqlite_parts, mail(), mail()) == ["new_ticket", "duplicate"]
    store = sqlite_parts.worker.store
    assert isinstance(store, Store)
    keys = store.conn.execute("SELECT key_hash FROM processed").fetchall()
    assert [k[0] for k in keys] == [None, None]  # nothing in the processed table's index
    hashes = store.conn.execute("SELECT dedup_hash FROM messages"
                                " WHERE direction = 'inbound'").fetchall()
    assert len(hashes) == 1 and isinstance(hashes[0][0], int)


def test_a_reused_message_id_with_another_body_is_a_new_message(parts: Parts) -> None:
    assert outcomes(parts, mail(), mail(body="Now the scanner too.")) == [
        "new_ticket", "new_ticket"]


def test_the_same_bytes_without_a_message_id_are_a_duplicate(parts: Parts) -> None:
    assert outcomes(parts, mail(message_id=None), mail(message_id=None)) == [
        "new_ticket", "duplicate"]


def test_automatic_mail_delivered_twice_is_recorded_once(parts: Parts, config: Config) -> None:
    bounce = mail(body="Out of office.", message_id="<away@example.org>",
                  extra="Auto-Submitted: auto-replied\r\n")
    assert outcomes(parts, bounce, bounce) == ["automatic", "duplicate"]
    with closing(open_reads(config)) as reads:
        assert len(reads.automatic_rows()) == 1


def test_the_duplicate_check_reads_indexes_only(tmp_path: Path) -> None:
    store = Store(tmp_path / "data")
    plans = []
    for sql, args in [(HASHES_UNDER_MESSAGE_ID, ("a", "a")), (KEY_HASH_PROCESSED, (1,))]:
        plans += [row[3] for row in store.conn.execute("EXPLAIN QUERY PLAN " + sql, args)]
    searches = [p for p in plans if p.startswith(("SEARCH", "SCAN"))]
    assert len(searches) == 3 and all(" USING " in p and "INDEX" in p for p in searches), plans
