"""`maildaemon purge --closed-before DATE [--dry-run]`: retention by hand (cli.py registers
it). Every ticket closed before DATE (a UTC date means its start; or an ISO moment) loses
its messages, raw bytes, files and events and keeps a tombstone row (store/purge.py).

A DATE in the future is refused (exit 2): it would purge tickets closed a moment ago,
which their customers may still reopen; `--dry-run` names what would go. Exit 0 otherwise,
also when nothing was due. The database is checkpointed afterwards, so the deleted pages
leave the write-ahead log too.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import Any

from maildaemon.agent import EX_OK, EX_USAGE, clock_from
from maildaemon.config import Config
from maildaemon.retention import purge_closed
from maildaemon.sla_report import moment
from maildaemon.store import TicketStore, iso, open_store


def add_purge_parser(sub: Any) -> None:
    purge = sub.add_parser("purge", help="remove closed tickets' content (retention)")
    purge.add_argument("--closed-before", required=True, metavar="DATE",
                       help="tickets closed before this UTC date (its start) or ISO moment")
    purge.add_argument("--dry-run", action="store_true",
                       help="list the tickets that would be purged; change nothing")
    purge.add_argument("--now", help=argparse.SUPPRESS)  # tests: a controlled clock


def cmd_purge(config: Config, args: argparse.Namespace) -> int:
    now = clock_from(args.now)
    try:
        before = moment(args.closed_before)
    except ValueError:
        print(f"maildaemon: --closed-before {args.closed_before!r} is not a date "
              "(YYYY-MM-DD) or an ISO moment", file=sys.stderr)
        return EX_USAGE
    if before > now:
        print(f"maildaemon: --closed-before {iso(before)} is in the future; tickets "
              "closed that recently can still be reopened", file=sys.stderr)
        return EX_USAGE
    store = open_store(config)
    if args.dry_run:
        due = _closed_before(store, before)
        for number, closed_at in due:
            print(f"{number}  closed {closed_at}")
        print(f"would purge {len(due)} tickets closed before {iso(before)}")
        return EX_OK
    purged = purge_closed(store, before, now)
    store.settle()
    print(f"purged {len(purged.numbers)} tickets closed before {iso(before)}: "
          f"{purged.messages} messages and {purged.files} files removed; their numbers "
          "stay as tombstones")
    for number in purged.numbers:
        print(number)
    return EX_OK


def _closed_before(store: TicketStore, before: datetime) -> list[tuple[str, str]]:
    """Number and closing time (a closed ticket's status is as old as its closing)."""
    rows = [store.ticket_by_id(i) for i in store.purgeable(before, 10_000_000)]
    return [(r.number, r.status_since or "") for r in rows if r is not None]
