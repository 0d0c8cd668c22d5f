"""`maildaemon escalate HS-XXXXXX [--note TEXT]`: an agent's escalation (cli.py registers
it). The same escalation as a customer's request (escalations.py), in one transaction,
then the mail it queued is delivered.

Exit 0 when escalated, and 0 too when it was escalated already (said on stdout: nothing
changed, which is what was asked); 1 when there is no such ticket, as `show` and
`status` answer.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from maildaemon.agent import EX_NOTFOUND, EX_OK, clock_from
from maildaemon.config import Config
from maildaemon.domain import EscalationFate
from maildaemon.escalations import Escalator
from maildaemon.render import Renderer
from maildaemon.sender import Sender, transport_of
from maildaemon.store import open_store
from maildaemon.templates_config import environment_for
from maildaemon.worker import installation_secret

BY = "an agent (maildaemon escalate)"


def add_escalate_parser(sub: Any) -> None:
    escalate = sub.add_parser("escalate", help="escalate a ticket (an agent's action)")
    escalate.add_argument("number")
    escalate.add_argument("--note", default="", help="why: kept in the ticket's events and "
                          "shown to the managers, never to the customer")
    escalate.add_argument("--now", help=argparse.SUPPRESS)  # tests: a controlled clock


def cmd_escalate(config: Config, args: argparse.Namespace) -> int:
    store = open_store(config)
    now = clock_from(args.now)
    escalator = Escalator(config, store,
                          Renderer(config.mail.domain, installation_secret(config),
                                   environment_for(config.templates)))
    with store.transaction():
        esc = escalator.escalate(args.number, BY, args.note.strip(), now)
    if esc is None:
        print(f"maildaemon: no ticket {args.number}", file=sys.stderr)
        return EX_NOTFOUND
    number = args.number.upper()
    if esc.fate == EscalationFate.ALREADY:
        print(f"{number}: already escalated (priority {esc.priority}, queue {esc.queue}); "
              "nothing changed")
        return EX_OK
    Sender(store, transport_of(config), config.outbound).deliver_due(now)
    changes = [f"priority {esc.old_priority} -> {esc.priority}"]
    if esc.queue != esc.old_queue:
        changes.append(f"queue {esc.old_queue} -> {esc.queue}")
    if esc.assignee:
        changes.append(f"assigned to {esc.assignee}")
    print(f"{number}: escalated: {', '.join(changes)}")
    return EX_OK
