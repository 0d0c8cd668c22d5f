"""What waits: the spool (for the worker) and the outbox (for delivery), in one snapshot.

Read by the SMTP edge process for `STATUS=` lines (sdnotify.py) and `/metrics`
(metrics_http.py), always on a thread: SQLite may wait on a disk or a lock, and the event
loop that answers SMTP must not. Each read is a handful of index lookups; nothing here
runs per message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from maildaemon.config import Config
from maildaemon.spool import SpoolWatch
from maildaemon.store import open_backlog


@dataclass(frozen=True)
class Backlog:
    spool_pending: int
    spool_held: int
    oldest_age: float  # seconds the oldest waiting message has waited; 0 with none
    outbox_pending: int

    def words(self) -> str:
        return (f"spool {self.spool_pending} pending, {self.spool_held} held; "
                f"outbox {self.outbox_pending} pending")


class BacklogReader:
    def __init__(self, config: Config) -> None:
        self.spool = SpoolWatch(config.data_dir)
        self.outbox = open_backlog(config)

    def read(self, now: datetime | None = None) -> Backlog:
        spool = self.spool.backlog()
        age = 0.0
        if spool.oldest_received_at:
            received = datetime.fromisoformat(spool.oldest_received_at.replace("Z", "+00:00"))
            age = max(0.0, ((now or datetime.now(UTC)) - received).total_seconds())
        return Backlog(spool.pending, spool.held, age, self.outbox.outbox_pending())

    def close(self) -> None:
        self.spool.close()
        self.outbox.close()
