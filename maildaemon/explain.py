"""`maildaemon decide FILE.eml`: what the pipeline would do with a message, and why.

The tool for "why did my mail do that?": the message is parsed as the worker parses it, its
context loaded by the worker's own code (context.py) from the ticket database opened read-only
(store/readonly.py), and decided by the same table of steps (policy/decide.py). Nothing is
written and nothing sent: no spool entry, ticket or reply, and on a new installation not
even the data directory or its secret key.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from maildaemon.agent import clock_from
from maildaemon.config import Config
from maildaemon.context import ContextLoader, read_secret
from maildaemon.domain import Decision, InboundMail, Outcome, Reply
from maildaemon.escalation_mail import REFUSED_SUBJECT
from maildaemon.ingest import split_recipients
from maildaemon.parse import parse_mail
from maildaemon.policy.decide import STEPS, decide
from maildaemon.policy.followup import outbound_subject
from maildaemon.privacy_config import mask_kinds
from maildaemon.store import ReadOnlyTickets, iso, open_readonly
from maildaemon.store.readonly import NoDatabase
from maildaemon.views import bug_report_json
from maildaemon.worker import policy_settings

EX_OK, EX_USAGE, EX_CONFIG = 0, 2, 78
NEW_NUMBER = "HS-XXXXXX"  # a new ticket's number is drawn when the mail is processed


def add_decide_parser(sub: Any) -> None:
    """The `decide` subcommand's arguments (cli.py registers it)."""
    decide_ = sub.add_parser("decide", help="what the pipeline would do with a message, "
                             "step by step; changes and sends nothing")
    decide_.add_argument("file", help="the message (- for standard input)")
    decide_.add_argument("--rcpt", action="append", default=[], metavar="ADDR",
                         help="envelope recipient (repeatable); else To/Cc, as ingest does")
    decide_.add_argument("--sender", help="envelope sender (\"\" for a bounce)")
    decide_.add_argument("--json", action="store_true")
    decide_.add_argument("--now", help=argparse.SUPPRESS)  # tests: a controlled clock


def cmd_decide(config: Config, args: argparse.Namespace) -> int:
    if args.file != "-" and not Path(args.file).is_file():
        print(f"maildaemon: not a readable file: {args.file}", file=sys.stderr)
        return EX_USAGE
    raw = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    try:
        store = open_readonly(config)
    except NoDatabase as exc:
        print(f"maildaemon: {exc}; nothing decided (check --config)", file=sys.stderr)
        return EX_CONFIG
    try:
        data = explain(config, store, raw, args.sender, split_recipients(args.rcpt),
                       clock_from(args.now))
    finally:
        store.close()
    print(json.dumps(data, indent=2, ensure_ascii=False) if args.json else as_text(data))
    return EX_OK


def explain(config: Config, store: ReadOnlyTickets, raw: bytes, sender: str | None,
            rcpts: tuple[str, ...], now: datetime) -> dict[str, Any]:
    """The decision on `raw` against the database as it is, as plain data."""
    settings = policy_settings(config)
    loader = ContextLoader(store, settings, read_secret(config.data_dir))
    mail = parse_mail(raw, sender, rcpts, config.attachments.max_file_bytes,
                      settings.dmarc_trust, mask_kinds(config.privacy))
    decision = decide(mail, loader.load(mail, now), settings, now)
    return describe(config, mail, decision)


def describe(config: Config, mail: InboundMail, decision: Decision) -> dict[str, Any]:
    joins, new = decision.ticket, decision.new_ticket
    number = joins.number if joins else NEW_NUMBER if new else None
    subject = (joins or new or mail).subject
    if decision.outcome == Outcome.ESCALATION_REFUSED and decision.escalation:
        number, subject = decision.escalation.number, REFUSED_SUBJECT  # on no ticket
    asked = {line.step for line in decision.trace_lines}

    def reply(r: Reply) -> dict[str, str]:
        return {"template": r.template, "to": r.to, "from": config.queue_address(r.queue),
                "subject": outbound_subject(number or NEW_NUMBER, subject)}

    return {
        "message_id": mail.message_id, "from": mail.from_addr, "subject": mail.subject,
        "envelope_rcpts": list(mail.envelope_rcpts),
        "outcome": str(decision.outcome),
        "automated": decision.automated_reason,
        "queue": joins.queue if joins else new.queue if new else None,
        "ticket": joins.number if joins else None,
        "new_ticket": None if new is None else {
            "priority": str(new.priority), "participants": list(new.participants),
            "related": list(new.related), "follows": new.follows,
            "unverified": new.unverified or None,
            "tier": str(new.tier), "first_response_due": iso(new.first_response_due),
            "resolution_due": iso(new.resolution_due) if new.resolution_due else None,
            "bug_report": bug_report_json(asdict(decision.bug_report))
            if decision.bug_report else None},
        "status": None if joins is None else {
            "now": str(joins.status),
            "after": str(decision.new_status or joins.status)},
        "rating": list(decision.rating) if decision.rating else None,
        "replies": [reply(r) for r in (decision.reply, *decision.more_mail) if r],
        "refused": [{"filename": v.candidate.filename, "reason": v.reason, "words": v.words}
                    for v in decision.attachments if not v.accepted],
        "events": [{"type": e.type, "detail": e.detail} for e in decision.events],
        "trace": [{"step": line.step, "hit": line.hit, "detail": line.detail,
                   "kept": line.kept} for line in decision.trace_lines],
        "not_reached": [s.name for s in STEPS if s.name not in asked],
    }


def as_text(data: dict[str, Any]) -> str:
    new = data["new_ticket"]
    if data["ticket"]:
        status = data["status"]
        change = f"{status['now']} -> {status['after']}" if status["now"] != \
            status["after"] else status["now"]
        ticket = f"joins {data['ticket']} ({change})"
    elif new:
        links = f", linked to {', '.join(new['related'])}" if new["related"] else ""
        links += f"; unverified: {new['unverified']}" if new["unverified"] else ""
        ticket = (f"opens a new ticket, priority {new['priority']}, tier {new['tier']};"
                  f" first response due {new['first_response_due']}{links}")
    else:
        ticket = "none"
    lines = [f"message {data['message_id']} from {data['from'] or '<>'}",
             f"outcome:  {data['outcome']}"
             + (f" ({data['automated']})" if data["automated"] else ""),
             f"queue:    {data['queue'] or '-'}", f"ticket:   {ticket}"]
    lines += [f"reply:    {r['template']} to {r['to']} from {r['from']}: {r['subject']}"
              for r in data["replies"]] or ["reply:    none"]
    lines += [f"refused:  {r['filename']}: {r['words']}" for r in data["refused"]]
    lines += [f"event:    {e['type']}: {e['detail']}" for e in data["events"]]
    lines.append("trace:")
    lines += [f"  {'hit ' if t['hit'] else 'miss'}  {t['step']}: {t['detail']}"
              for t in data["trace"]]
    lines += [f"  -     {name}: not reached" for name in data["not_reached"]]
    lines.append("nothing was written and nothing sent")
    return "\n".join(lines)
