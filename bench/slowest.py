"""The slowest real message against the typical one: each message of the shared corpus
through the real worker on its own (its own transaction, as a lone message in the daemon),
timed one by one. A message that costs hundreds of times the median is an input the parser
or a rule handles badly (deep nesting, a pathological regex): the row catches it as a
ratio measured in the same run, where a timed test failed whenever the machine was busy.
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

from maildaemon.config import config_from_dict
from maildaemon.spool import Incoming, Spool
from maildaemon.store import Store
from maildaemon.worker import Worker


def per_message_seconds(workdir: Path, files: list[Path]) -> list[tuple[float, str]]:
    """(seconds, file name) of every message, slowest first."""
    config = config_from_dict({"storage": {"data_dir": str(workdir / "data")}})
    spool = Spool(config.data_dir)
    worker = Worker(config, spool, Store(config.data_dir),
                    lambda: datetime(2026, 11, 28, tzinfo=UTC))
    times: list[tuple[float, str]] = []
    for path in files:
        [spool_id] = spool.put_many([Incoming(None, (), path.read_bytes(), "bench")])
        started = time.perf_counter()
        worker.process_entries(spool.claim_named([spool_id]))
        times.append((time.perf_counter() - started, path.name))
    return sorted(times, reverse=True)


def slowest_over_median(times: list[tuple[float, str]]) -> tuple[float, float, str]:
    """(slowest / median, slowest seconds, its file)."""
    median = statistics.median(t for t, _ in times)
    return times[0][0] / median, times[0][0], times[0][1]
