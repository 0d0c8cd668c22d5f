"""PostgreSQL (issue 15) against SQLite, as ratios measured in the same run.

- The worker: the growth benchmark's workload (half new tickets, half replies, random
  Message-IDs), through the real worker and sender in this process, once on SQLite in a
  data directory and once on a throwaway PostgreSQL server on this machine (tests/
  pg_server.py: fsync off there, so the row compares the two code paths and the round trips
  to a local server, not the disks), interleaved, best round each.
- Two nodes: the real `serve` twice, each with its own spool and port, on one database,
  the load split between them, against one node on the same database, from the first
  message sent to the last acknowledgement in the maildirs. On these 2 cores two nodes
  share the CPU that one had, so the row shows what the second node costs, not what a
  second machine would add; the README says so.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from bench.growth import NOW, Database, run_workload
from bench.load import run_load
from bench.procs import Daemon, wait_until
from maildaemon.config import config_from_dict
from maildaemon.spool import Spool
from maildaemon.workproc import worker_parts
from tests.pg_server import PgServer, binaries

KB = 1024


def worker_database(workdir: Path, url: str) -> Database:
    config = config_from_dict({
        "storage": {"data_dir": str(workdir / "data"), "database": url},
        "outbound": {"maildir": str(workdir / "outbound")},
        "autoreply": {"max_per_hour": 1_000_000},
    })
    config.data_dir.mkdir(parents=True, exist_ok=True)
    return Database(config, [], Spool(config.data_dir), worker_parts(config, lambda: NOW))


def worker_rates(tmp: Path, server: PgServer, rounds: int, count: int) -> tuple[float, float]:
    """(best SQLite, best PostgreSQL) messages per second of the worker and sender."""
    sqlite = worker_database(tmp / "sqlite", "")
    postgres = worker_database(tmp / "pg", server.fresh_database())
    rates: dict[str, list[float]] = {"sqlite": [], "pg": []}
    try:
        for db, name in ((sqlite, "sqlite"), (postgres, "pg")):
            run_workload(db, f"warm-{name}", count)  # connections and caches warm
        for i in range(rounds):
            for db, name in ((sqlite, "sqlite"), (postgres, "pg")):
                rates[name].append(run_workload(db, f"{name}-{i}", count))
    finally:
        sqlite.parts.close()
        postgres.parts.close()
    return max(rates["sqlite"]), max(rates["pg"])


def nodes_rate(tmp: Path, url: str, nodes: int, count: int) -> float:
    """Messages per second to ticket and acknowledgement with `nodes` serve processes on
    one database, `count` messages split evenly, 4 connections to each node."""
    daemons = [Daemon(tmp / f"node{i}", database=url) for i in range(nodes)]
    try:
        share = count // nodes
        started = time.monotonic()
        threads = [threading.Thread(target=run_load, args=(d.port, share, 4, 2 * KB),
                                    kwargs={"run": f"nodes{nodes}-{i}"})
                   for i, d in enumerate(daemons)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(600)
        wait_until(lambda: sum(d.delivered() for d in daemons) >= share * nodes, 600,
                   "every acknowledgement")
        return share * nodes / (time.monotonic() - started)
    finally:
        for daemon in daemons:
            daemon.stop()


def rows(tmp: Path, quick: bool) -> list[tuple[str, str, str, bool | None]]:
    """(what, result, target, ok) for run.py's table."""
    if binaries() is None:
        why = "skipped: no PostgreSQL server binaries (apt-get install postgresql)"
        return [("Worker on PostgreSQL vs SQLite", why, "", None),
                ("Two nodes vs one, PostgreSQL", why, "", None)]
    server = PgServer()
    server.start()
    try:
        count = 1000 if quick else 3000
        lite, pg = worker_rates(tmp, server, 2 if quick else 3, count)
        out = [("Worker on PostgreSQL vs SQLite",
                f"{pg / lite:4.2f}x SQLite  ({pg:.0f} msg/s vs {lite:.0f} msg/s,"
                f" {count} messages, local server)", "", None)]
        messages = 600 if quick else 2000
        one = nodes_rate(tmp / "one", server.fresh_database(), 1, messages)
        two = nodes_rate(tmp / "two", server.fresh_database(), 2, messages)
        out.append(("Two nodes vs one, PostgreSQL",
                    f"{two / one:4.2f}x one node  ({two:.0f} vs {one:.0f} msg/s end to end,"
                    f" {messages} x 2 KB, one 2-core machine)", "", None))
        return out
    finally:
        server.remove()

