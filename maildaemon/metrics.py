"""The daemon's Prometheus counters and histograms, one line at each place things happen.

Both processes of `serve` count: the SMTP edge (replies, accepted messages) and the worker
(tickets, replies threaded, held mail, deliveries, SLA breaches). prometheus_client's
multiprocess mode adds them up: serve wipes `data_dir/metrics/` at start and names it in
$PROMETHEUS_MULTIPROC_DIR before it starts the worker, each process writes its own
memory-mapped file there, and the edge's `/metrics` (metrics_http.py) reads them all. A worker
that is restarted leaves its file behind, so the counters keep what it counted.

Off (the default, `[metrics] listen = ""`), and in every other command (`ingest`, `sweep`
run from cron...), `enable` is never called and each function here is a no-op costing one
global lookup. On, an increment is a lock and a store into a memory map: no I/O, no SQL.
The gauges (backlog, held mail, oldest message) are not kept here: metrics_http.py reads them
from the databases when scraped.

prometheus_client is imported in `enable` only, after $PROMETHEUS_MULTIPROC_DIR is set: it
picks its value class (memory or file-backed) from the environment.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import Counter, Histogram

ENV = "PROMETHEUS_MULTIPROC_DIR"
DIR_NAME = "metrics"
# Seconds: processing is milliseconds; the acknowledgement may wait for a backlog.
PROCESSING_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
ACK_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)


@dataclass(frozen=True)
class Metrics:
    smtp_replies: Counter
    accepted: Counter
    processed: Counter
    tickets_created: Counter
    replies_threaded: Counter
    attachments_refused: Counter
    held: Counter
    automatic_mail: Counter
    outbound: Counter
    sla_breaches: Counter
    processing: Histogram
    time_to_ack: Histogram


ACTIVE: Metrics | None = None
# The labelled children already made: `labels()` costs a lock and a dict lookup each time.
_CHILDREN: dict[tuple[int, str], Any] = {}


def prepare(data_dir: Path, on: bool) -> Path | None:
    """For serve, before the worker starts: an empty metrics directory in the environment
    the worker inherits, or (off) no such variable at all, whatever the operator's shell
    had set."""
    if not on:
        os.environ.pop(ENV, None)
        return None
    path = data_dir / DIR_NAME
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(path)  # a previous run's counts, and files of pids now reused
    path.mkdir(mode=0o700, parents=True)
    os.environ[ENV] = str(path)
    return path


def enable() -> bool:
    """Create the metrics if serve asked for them ($PROMETHEUS_MULTIPROC_DIR is set)."""
    global ACTIVE
    if ACTIVE is not None:
        return True
    if not os.environ.get(ENV):
        return False
    from prometheus_client import Counter, Histogram, values

    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call] # file-backed, even if imported earlier
    ACTIVE = Metrics(
        smtp_replies=Counter("maildaemon_smtp_replies", "SMTP replies sent, by code",
                             ["code"]),
        accepted=Counter("maildaemon_messages_accepted",
                         "Messages made durable in the spool and answered 250"),
        processed=Counter("maildaemon_messages_processed",
                          "Spooled messages the worker finished, by outcome", ["outcome"]),
        tickets_created=Counter("maildaemon_tickets_created", "New tickets opened by mail"),
        replies_threaded=Counter("maildaemon_replies_threaded",
                                 "Customer mail added to an existing ticket"),
        attachments_refused=Counter("maildaemon_attachments_refused",
                                    "Attachments not kept (type, size or quota)"),
        held=Counter("maildaemon_messages_held",
                     "Messages held in the spool after failing max_attempts times"),
        automatic_mail=Counter("maildaemon_automatic_mail_sent",
                               "Mail we wrote that was delivered, by kind (template)",
                               ["kind"]),
        outbound=Counter("maildaemon_outbound_deliveries",
                         "Delivery attempts of the outbox, by result (sent, retried, failed)",
                         ["result"]),
        sla_breaches=Counter("maildaemon_sla_breaches",
                             "SLA targets missed, by kind (first_response, resolution)",
                             ["kind"]),
        processing=Histogram("maildaemon_processing_seconds",
                             "Worker time per message, from claiming its batch to the commit",
                             buckets=PROCESSING_BUCKETS),
        time_to_ack=Histogram("maildaemon_time_to_ack_seconds",
                              "From a new ticket's mail received (250) to its "
                              "acknowledgement queued", buckets=ACK_BUCKETS),
    )
    return True


def _inc(counter: Counter, label: str, amount: float = 1) -> None:
    key = (id(counter), label)
    child = _CHILDREN.get(key)
    if child is None:
        child = _CHILDREN[key] = counter.labels(label)
    child.inc(amount)


def smtp_reply(status: str) -> None:
    """A reply's last (or only) line: "250-SIZE ..." lines of EHLO are one reply."""
    if ACTIVE is not None and status[3:4] != "-":
        _inc(ACTIVE.smtp_replies, status[:3])


def accepted() -> None:
    if ACTIVE is not None:
        ACTIVE.accepted.inc()


def processed(outcome: str, seconds: float, refused_files: int = 0) -> None:
    """One message the worker finished (committed, held or put back)."""
    m = ACTIVE
    if m is None:
        return
    _inc(m.processed, outcome)
    if outcome == "new_ticket":
        m.tickets_created.inc()
    elif outcome == "followup":
        m.replies_threaded.inc()
    elif outcome == "held":
        m.held.inc()
    if refused_files:
        m.attachments_refused.inc(refused_files)
    m.processing.observe(seconds)


def acknowledged_since(received_at: str) -> None:
    """A new ticket's acknowledgement was queued (committed) now; `received_at` is the
    spool's stamp of its 250 (ISO-8601 UTC). Both by the wall clock."""
    if ACTIVE is not None:
        received = datetime.fromisoformat(received_at.replace("Z", "+00:00"))
        seconds = (datetime.now(UTC) - received).total_seconds()
        ACTIVE.time_to_ack.observe(max(0.0, seconds))


def delivery(result: str, kind: str = "") -> None:
    """An outbox attempt: "sent", "retried" or "failed"; a sent one counts by kind."""
    m = ACTIVE
    if m is None:
        return
    _inc(m.outbound, result)
    if result == "sent" and kind:
        _inc(m.automatic_mail, kind)


def sla_breach(kind: str) -> None:
    if ACTIVE is not None:
        _inc(ACTIVE.sla_breaches, kind)
