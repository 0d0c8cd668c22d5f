"""What agents and the schedule do to tickets from the command line: status changes,
answers, assignment, internal notes, the sweep and the ratings report.

Each works on the data directory with or without a running daemon, in one transaction per
ticket that also queues, in the outbox, what the customer should hear. The clock comes from
the command line (`--now`, for tests) or the real one.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from maildaemon.attachments import clean_filename, detect_type
from maildaemon.config import Config
from maildaemon.domain import Status
from maildaemon.policy.agentcommands import CUSTOMER_EVENTS, STATUS_LINES
from maildaemon.policy.lifecycle import IllegalTransition, TicketClock, check_transition, next_due
from maildaemon.policy.recipients import reply_recipients
from maildaemon.policy.sensitive import mask, names
from maildaemon.render import Renderer
from maildaemon.sender import Sender, transport_of
from maildaemon.sla_report import cmd_report_sla
from maildaemon.sla_status import resumed_resolution_due
from maildaemon.store import (
    OutboxStore,
    TicketCommands,
    TicketRecord,
    iso,
    open_reads,
    open_store,
)
from maildaemon.sweeps import Sweeper, in_days, timers_of
from maildaemon.templates_config import environment_for
from maildaemon.worker import installation_secret

EX_OK, EX_NOTFOUND, EX_USAGE = 0, 1, 2


def clock_from(value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC)
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _read(path: str) -> str:
    """An agent's text, with any sensitive data masked as in a customer's mail (README,
    "Sensitive data"): an answer never mails a card number back in full."""
    text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    masked = mask(text)
    if masked.kinds:
        print(f"maildaemon: masked in your text: {', '.join(names(masked.kinds))}",
              file=sys.stderr)
    return masked.text


def _ticket(store: TicketCommands, number: str) -> TicketRecord | None:
    """The ticket, or None after saying so."""
    row = store.ticket(number)
    if row is None:
        print(f"maildaemon: no ticket {number}", file=sys.stderr)
    return row


def _allowed(row: TicketRecord, new: Status) -> bool:
    try:
        check_transition(Status(row.status), new)
    except IllegalTransition as exc:
        print(f"maildaemon: {row.number}: {exc}", file=sys.stderr)
        return False
    return True


def _event(store: TicketCommands, ticket_id: int, now: datetime, kind: str,
           detail: str) -> None:
    store.add_event(ticket_id, iso(now), kind, detail)


def _transition(config: Config, store: TicketCommands, row: TicketRecord, new: Status,
                now: datetime, cause: str) -> None:
    """Move the ticket to `new` (timers restart), record who did it; closing sends the
    satisfaction survey."""
    due = next_due(TicketClock(new, now, False, False), timers_of(config))
    store.set_status(row.id, new, iso(now), iso(due) if due else None,
                     resumed_resolution_due(config, row, new, now))
    _event(store, row.id, now, "status", f"{row.status} -> {new} by {cause}")
    if new == Status.CLOSED:
        _sweeper(config, store).notify(row, "survey", now, {})


def _sweeper(config: Config, store: TicketCommands) -> Sweeper:
    return Sweeper(config, store, Renderer(config.mail.domain, installation_secret(config),
                                           environment_for(config.templates)))


def _deliver(config: Config, store: OutboxStore, now: datetime) -> int:
    sender = Sender(store, transport_of(config), config.outbound)
    return sender.deliver_due(now).sent


def cmd_sweep(config: Config, args: argparse.Namespace) -> int:
    store = open_store(config)
    now = clock_from(args.now)
    done = _sweeper(config, store).run(now)
    sent = _deliver(config, store, now)
    summary = ", ".join(f"{n} {action}" for action, n in sorted(done.items())) or "nothing due"
    print(f"sweep as of {iso(now)}: {summary}; sent {sent}")
    return EX_OK


def cmd_status(config: Config, args: argparse.Namespace) -> int:
    store = open_store(config)
    now = clock_from(args.now)
    new = Status(args.status)
    with store.transaction():
        row = _ticket(store, args.number)
        if row is None:
            return EX_NOTFOUND
        if not _allowed(row, new):
            return EX_USAGE
        event = "reopened" if row.status in (Status.RESOLVED, Status.CLOSED) and \
            new == Status.OPEN else str(new)
        if event in CUSTOMER_EVENTS:  # told what concerns them; the note stays internal
            life = config.lifecycle
            _sweeper(config, store).notify(row, f"status_{event}", now, {
                "close_in": in_days(life.resolved_days),
                "reopen_in": in_days(life.reopen_days)})
        _transition(config, store, row, new, now,
                    "an agent" + (f": {args.note}" if args.note else ""))
    _deliver(config, store, now)
    print(f"{row.number}: {row.status} -> {new}")
    return EX_OK


def cmd_reply(config: Config, args: argparse.Namespace) -> int:
    """The agent's text goes to the requester, with the other participants copied, from the
    queue's address and threaded on the ticket; the first answer opens a new ticket."""
    missing = [f for f in args.attach if not Path(f).is_file()]
    if missing:
        print(f"maildaemon: not a readable file: {', '.join(missing)}", file=sys.stderr)
        return EX_USAGE
    body = _read(args.body_file)
    files = [(clean_filename(Path(f).name, "attachment"), detect_type(data), data)
             for f in args.attach for data in [Path(f).read_bytes()]]
    store = open_store(config)
    now = clock_from(args.now)
    with store.transaction():
        row = _ticket(store, args.number)
        if row is None:
            return EX_NOTFOUND
        current = Status(row.status)
        new = Status(args.status) if args.status else \
            (Status.OPEN if current == Status.NEW else current)
        if new != current and not _allowed(row, new):
            return EX_USAGE
        people = reply_recipients(row.requester, store.participants_of(row.id),
                                  config.mail.max_participants)
        out = Renderer(config.mail.domain, installation_secret(config),
                       environment_for(config.templates)).render(
            "agent_reply", number=row.number, queue=row.queue,
            queue_address=config.queue_address(row.queue), to=people.to,
            ticket_subject=row.subject, now=now,
            in_reply_to=store.last_received_message_id(row.id),
            variables={"body": body.strip(), "agent_name": args.agent.split("@")[0],
                       "status_line": STATUS_LINES.get(new, "")},
            cc=list(people.cc), files=files,
        )
        store.enqueue(row.id, out, iso(now))
        store.record_first_response(row.id, iso(now))
        _event(store, row.id, now, "agent_reply", f"by {args.agent}{people.left_out}")
        if new != current:
            _transition(config, store, row, new, now, f"{args.agent}'s reply")
    _deliver(config, store, now)
    print(f"{row.number}: reply sent to {', '.join((people.to, *people.cc))}{people.left_out}"
          + (f"; {current} -> {new}" if new != current else ""))
    return EX_OK


def cmd_assign(config: Config, args: argparse.Namespace) -> int:
    store = open_store(config)
    with store.transaction():
        row = _ticket(store, args.number)
        if row is None:
            return EX_NOTFOUND
        store.assign(row.id, args.agent)
        _event(store, row.id, clock_from(None), "assigned",
               f"{row.assignee or 'nobody'} -> {args.agent}")
    print(f"{row.number}: assigned to {args.agent}")
    return EX_OK


def cmd_note(config: Config, args: argparse.Namespace) -> int:
    """An internal note: stored as an event on the ticket, never emailed."""
    text = _read(args.body_file)
    store = open_store(config)
    with store.transaction():
        row = _ticket(store, args.number)
        if row is None:
            return EX_NOTFOUND
        _event(store, row.id, clock_from(None), "note", text.strip())
    print(f"{row.number}: note added")
    return EX_OK


def cmd_report(config: Config, args: argparse.Namespace) -> int:
    if args.what == "sla":
        return cmd_report_sla(config, args)
    items = open_reads(config).ratings()
    if args.json:
        print(json.dumps(items, indent=2))
        return EX_OK
    print(f"{'queue':<12} {'agent':<28} {'ratings':>7} {'average':>7} {'1-2':>4}")
    for i in items:
        print(f"{i['queue']:<12} {i['agent']:<28} {i['n']:>7} {i['mean']:>7.2f} {i['low']:>4}")
    if not items:
        print("no ratings yet")
    return EX_OK
