"""`maildaemon stats [--json]`: what the helpdesk holds and what is waiting, for an
operator's glance and for monitoring scripts (the JSON is documented in docs/json.md).

Tickets by status, queue and priority and the SLA breaches the sweep has recorded (m022's
flags: all of them, and those on tickets still open); the spool's backlog (pending,
claimed, held, and the age of the oldest message waiting); the outbox (pending, of which
due now and deferred after a failed attempt; failed; sent). Every number is an aggregate
query: nothing is read row by row in Python, nothing is written.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

from maildaemon.config import Config
from maildaemon.spool import Spool
from maildaemon.spool_admin import backlog
from maildaemon.store import iso, open_operator

EX_OK = 0


def add_stats_parser(sub: Any) -> None:
    stats = sub.add_parser("stats", help="tickets by status, queue and priority; backlogs")
    stats.add_argument("--json", action="store_true")


def collect(config: Config, now: datetime) -> dict[str, Any]:
    store = open_operator(config)
    try:
        tickets = store.ticket_stats()
        outbox = store.outbox_stats(now)
    finally:
        store.close()
    spool = Spool(config.data_dir, config.spool.max_attempts)
    try:
        waiting = backlog(spool, now)
    finally:
        spool.close()
    breaches = tickets.pop("sla_breaches")
    return {"at": iso(now), "tickets": tickets, "spool": waiting, "held": waiting["held"],
            "outbox": outbox, "sla_breaches": breaches}


def cmd_stats(config: Config, args: argparse.Namespace) -> int:
    data = collect(config, datetime.now(UTC))
    if args.json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return EX_OK
    t, s, o, b = data["tickets"], data["spool"], data["outbox"], data["sla_breaches"]
    print(f"tickets: {t['total']}")
    for title, counts in (("status", t["by_status"]), ("queue", t["by_queue"]),
                          ("priority", t["by_priority"])):
        print(f"  by {title}: " + (", ".join(f"{k} {v}" for k, v in counts.items()) or "-"))
    oldest = (f", oldest waiting since {s['oldest_waiting_at']} "
              f"({s['oldest_waiting_seconds']} s)" if s["oldest_waiting_at"] else "")
    print(f"spool: {s['pending']} pending, {s['claimed']} claimed, {s['held']} held{oldest}")
    print(f"outbox: {o['pending']} pending ({o['due']} due now, {o['deferred']} deferred), "
          f"{o['failed']} failed, {o['sent']} sent")
    print(f"SLA breaches: first response {b['first_response']} "
          f"({b['first_response_open']} on open tickets), resolution {b['resolution']} "
          f"({b['resolution_open']} on open tickets)")
    return EX_OK
