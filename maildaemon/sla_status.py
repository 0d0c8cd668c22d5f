"""The SLA side of a status change made outside the worker: `maildaemon status`, `reply
--status` and the sweep closing a ticket that waited on the customer.

The worker's decisions get the same from the policy (policy/slaclock.py, called by
`decide`); both compute it with `resolution_due_after`, so a wait ends the same way on
every path. What needs no arithmetic (stopping the clocks on resolving or closing) is done
by the store wherever a status is written.
"""

from __future__ import annotations

from datetime import datetime

from maildaemon.config import Config
from maildaemon.domain import Priority, Status, Tier
from maildaemon.policy.slaclock import resolution_due_after
from maildaemon.sla_config import sla_settings
from maildaemon.store import TicketRecord, iso, parse_iso


def resumed_resolution_due(config: Config, row: TicketRecord, new: Status,
                           now: datetime) -> str | None:
    """The stamp to store as the ticket's resolution due time when it moves from its
    status to `new`; None when it stays."""
    moved = resolution_due_after(Status(row.status), new, parse_iso(row.status_since),
                                 parse_iso(row.resolution_due), Priority(row.priority),
                                 Tier(row.tier), now, sla_settings(config))
    return iso(moved) if moved is not None else None
