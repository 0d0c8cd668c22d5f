"""`maildaemon outbox retry ID` (cli.py registers it beside `outbox ls`): a failed or
deferred delivery back to pending, due now, with a fresh set of attempts (store/ops.py).

The daemon's sender picks it up at its next poll (within a few seconds); without a
running daemon, `maildaemon flush` sends it. An unknown id exits 1; a row already sent
exits 1 too, saying when: resending is an agent's call, not a queue operation.
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from maildaemon.config import Config
from maildaemon.store import open_operator

EX_OK, EX_NOTFOUND = 0, 1
log = logging.getLogger("maildaemon.outbox")


def add_outbox_commands(outbox_sub: Any) -> None:
    retry = outbox_sub.add_parser("retry", help="a failed or deferred delivery back to "
                                  "pending, due now (the id `outbox ls` shows)")
    retry.add_argument("row_id", type=int, metavar="ID")


def cmd_outbox_retry(config: Config, args: argparse.Namespace) -> int:
    store = open_operator(config)
    try:
        result = store.retry_outbox(args.row_id, datetime.now(UTC))
    finally:
        store.close()
    if result.outcome == "missing":
        print(f"maildaemon: no outbox row {args.row_id} (see `maildaemon outbox ls`)",
              file=sys.stderr)
        return EX_NOTFOUND
    if result.outcome == "sent":
        print(f"maildaemon: outbox row {args.row_id} was sent at {result.sent_at}; "
              "nothing to retry", file=sys.stderr)
        return EX_NOTFOUND
    log.warning("outbox row %d (%s, was %s) put back to pending by the operator",
                args.row_id, result.message_id, result.status)
    print(f"outbox row {args.row_id} to {result.rcpt_to}: {result.status} -> pending, due now"
          + (f" (last error: {result.last_error})" if result.last_error else "")
          + ("; a sender is delivering it right now" if result.leased else "")
          + "; the running daemon sends it within seconds, or run `maildaemon flush`")
    return EX_OK


OUTBOX_ACTIONS = {"retry": cmd_outbox_retry}
