"""The ticket database stays small where it is hot: the rate limit's hour, checkpoints.

The rate limit is behaviour of the storage interface and runs on each backend (the
`storage` fixture, conftest.py); the checkpoints are SQLite's own."""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from maildaemon.config import Config, config_from_dict
from maildaemon.render import Renderer
from maildaemon.spool import Incoming
from maildaemon.sqlite import Checkpointer
from maildaemon.store import Store, TicketStore, open_reads
from maildaemon.sweeps import Sweeper
from maildaemon.worker import load_secret
from maildaemon.workproc import worker_parts

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def installation(storage: dict[str, Any], tmp_path: Path) -> Config:
    return config_from_dict({"storage": storage,
                             "outbound": {"maildir": str(tmp_path / "out")},
                             "autoreply": {"max_per_hour": 3}})


def new_tickets(config: Config, now: datetime, sender: str, count: int, tag: str) -> None:
    parts = worker_parts(config, lambda: now)
    parts.spool.put_many([Incoming(sender, ("support@healthsync.com",), (
        f"From: {sender}\r\nTo: support@healthsync.com\r\nSubject: problem {i}\r\n"
        f"Message-ID: <{tag}.{i}@example.org>\r\n\r\nIt broke.\r\n").encode(), "test")
        for i in range(count)])
    for _ in range(count):
        if not parts.work_batch():
            break
    parts.close()


def acks_to(config: Config, address: str) -> int:
    with closing(open_reads(config)) as reads:
        return sum(row["rcpt_to"] == address for row in reads.outbox_rows(True))


def test_the_rate_limit_counts_one_hour_and_the_sweep_forgets_the_rest(
        storage: dict[str, Any], ticket_store: TicketStore, tmp_path: Path) -> None:
    config = installation(storage, tmp_path)
    new_tickets(config, T0, "flood@example.org", 5, "first")
    assert acks_to(config, "flood@example.org") == 3  # max_per_hour
    later = T0 + timedelta(minutes=61)
    new_tickets(config, later, "flood@example.org", 1, "later")
    assert acks_to(config, "flood@example.org") == 4  # the first hour is over
    Sweeper(config, ticket_store, Renderer(config.mail.domain, load_secret(config.data_dir))
            ).run(later)
    assert ticket_store.forget_old_replies(later) == 0  # the sweep forgot the first hour
    assert ticket_store.recent_autoreplies("flood@example.org", later) == 1
    new_tickets(config, later, "flood@example.org", 3, "again")
    assert acks_to(config, "flood@example.org") == 6  # 1 + 2 more in this hour


def test_checkpoints_reach_the_database_file_without_the_writers(tmp_path: Path) -> None:
    checkpointer = Checkpointer([tmp_path / "data" / "maildaemon.sqlite3"], every=0.0)
    store = Store(tmp_path / "data", checkpointer=checkpointer)
    assert store.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    for i in range(50):
        with store.transaction() as conn:
            conn.execute("INSERT INTO processed (key_hash, spool_id, outcome, at)"
                         " VALUES (?, ?, 'test', 'now')",
                         (i, f"spool{i}"))
    checkpointer.stop()
    # The database file alone, without its WAL, holds every commit.
    alone = tmp_path / "alone.sqlite3"
    shutil.copyfile(tmp_path / "data" / "maildaemon.sqlite3", alone)
    with sqlite3.connect(alone) as copy:
        assert copy.execute("SELECT count(*) FROM processed").fetchone()[0] == 50
