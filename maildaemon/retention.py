"""Retention: closed tickets' content removed once they are old enough, their rows kept
as tombstones (store/purge.py says what goes and what stays).

Two ways in: `maildaemon purge --closed-before DATE` (purge_cli.py), and the sweep when
`[storage] retention_days` is set (off, 0, by default), which purges the tickets closed
more than that many days ago. Tickets are purged oldest closed first, BATCH to a
transaction, so the worker waits for the lock a moment at a time; one sweep purges at
most SWEEP_LIMIT (the rest next time), so turning retention on for a large old database
never stalls the worker's mail.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta

from maildaemon.config import Config
from maildaemon.store.interface import PurgeCommands
from maildaemon.store.records import Purged

log = logging.getLogger("maildaemon.retention")

BATCH = 50
SWEEP_LIMIT = 500


def purge_closed(store: PurgeCommands, closed_before: datetime, now: datetime,
                 limit: int | None = None) -> Purged:
    """Every ticket closed before `closed_before` and not yet purged (at most `limit`)."""
    numbers: list[str] = []
    messages = files = 0
    while limit is None or len(numbers) < limit:
        size = BATCH if limit is None else min(BATCH, limit - len(numbers))
        ids = store.purgeable(closed_before, size)
        if not ids:
            break
        done = store.purge(ids, now)
        if not done.numbers:  # reopened or purged meanwhile by another process
            break
        numbers.extend(done.numbers)
        messages += done.messages
        files += done.files
    return Purged(tuple(numbers), messages, files)


def retention_days_ago(config: Config, now: datetime) -> datetime | None:
    days = config.storage.retention_days
    return now - timedelta(days=days) if days > 0 else None


def retention_sweep(config: Config, store: PurgeCommands, now: datetime) -> Counter[str]:
    """The sweep's pass: tickets closed longer than `retention_days` ago, if set."""
    before = retention_days_ago(config, now)
    if before is None:
        return Counter()
    purged = purge_closed(store, before, now, SWEEP_LIMIT)
    if purged.numbers:
        log.info("retention: purged %d tickets closed before %s (%d messages, %d files)",
                 len(purged.numbers), before.date().isoformat(), purged.messages,
                 purged.files)
    return Counter({"purged": len(purged.numbers)}) if purged.numbers else Counter()
