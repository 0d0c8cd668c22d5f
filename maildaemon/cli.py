"""Command line: thin wrappers that build the pieces and call them.

Exit codes (sysexits): 0 success, 1 not found, 2 usage error, 75 temporary failure (the MTA
should retry), 78 configuration error. Every command works on the data directory whether or
not a daemon is running on it.

`ingest` is what an MTA's pipe transport runs, and an MTA bounces the mail on any exit code
but 0 and 75: so for `ingest` every failure that is not the message's own (a bad command
line, a broken configuration, a full disk, a bug) exits 75 and the MTA keeps the message.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import traceback
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

from maildaemon.agent import (
    clock_from,
    cmd_assign,
    cmd_note,
    cmd_reply,
    cmd_report,
    cmd_status,
    cmd_sweep,
)
from maildaemon.backup import add_backup_parser, cmd_backup
from maildaemon.config import Config, ConfigError, describe, load_config, resolve_config_path
from maildaemon.customers_cli import add_customers_parser, cmd_customers
from maildaemon.domain import Status
from maildaemon.escalate_cli import add_escalate_parser, cmd_escalate
from maildaemon.explain import add_decide_parser, cmd_decide
from maildaemon.files import loose_modes, make_private
from maildaemon.ingest import Ingest, split_recipients
from maildaemon.logfmt import setup_logging
from maildaemon.migrate_cli import add_migrate_parser, cmd_migrate
from maildaemon.outbox_cli import OUTBOX_ACTIONS, add_outbox_commands
from maildaemon.purge_cli import add_purge_parser, cmd_purge
from maildaemon.route_cli import add_route_parser, cmd_route
from maildaemon.sender import Sender, lease_node, transport_of
from maildaemon.sla_report import add_sla_options
from maildaemon.spool import Spool
from maildaemon.spool_cli import SPOOL_ACTIONS, add_spool_commands
from maildaemon.stats_cli import add_stats_parser, cmd_stats
from maildaemon.store import TEMPORARY_ERRORS, TicketReads, open_reads, open_store
from maildaemon.store.backend import storage_problem
from maildaemon.templates_cli import add_templates_parser, cmd_templates
from maildaemon.templates_config import template_problems, unused_overrides
from maildaemon.views import ticket_json, ticket_text
from maildaemon.worker import Worker, load_secret

EX_OK, EX_NOTFOUND, EX_USAGE, EX_TEMPFAIL, EX_CONFIG = 0, 1, 2, 75, 78
log = logging.getLogger("maildaemon.cli")


class UsageError(Exception):
    """A bad command line; `main` picks the exit code (75 for `ingest`, else 2)."""


class Parser(argparse.ArgumentParser):
    """argparse exits 2 on a bad command line, which an MTA takes as "bounce the mail":
    raise instead, and let `main` decide (its subcommand parsers are of this class too)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def utc_now() -> datetime:
    """The one clock of the process; everything else receives `now` from here."""
    return datetime.now(UTC)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="maildaemon", description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="TOML file (else $MAILDAEMON_CONFIG, else the "
                        "packaged default)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the daemon in the foreground")
    worker = sub.add_parser("worker", help="run only the worker (serve starts it for you)")
    worker.add_argument("--wake-fd", type=int, default=None, help=argparse.SUPPRESS)
    portal = sub.add_parser("portal", help="run only the HTTP portal on a socket serve bound"
                            " (serve starts it for you)")
    portal.add_argument("--fd", type=int, required=True, help=argparse.SUPPRESS)
    portal.add_argument("--wake-fd", type=int, default=None, help=argparse.SUPPRESS)
    sub.add_parser("check-config", help="validate the configuration and templates")
    add_decide_parser(sub)
    add_customers_parser(sub)
    add_escalate_parser(sub)
    add_purge_parser(sub)
    add_templates_parser(sub)
    add_route_parser(sub)
    add_stats_parser(sub)
    add_backup_parser(sub)
    add_migrate_parser(sub)
    ingest = sub.add_parser("ingest", help="put raw messages through the pipeline now")
    ingest.add_argument("--sender", help="envelope sender (\"\" for a bounce)")
    ingest.add_argument("--rcpt", action="append", default=[], metavar="ADDR",
                        help="envelope recipient (repeatable, or several separated by commas)")
    ingest.add_argument("files", nargs="+", help="message files, - for standard input")
    ingest.add_argument("--now", help=argparse.SUPPRESS)  # tests: a controlled clock
    sub.add_parser("flush", help="deliver every pending outbound message now")
    tickets = sub.add_parser("tickets", help="list tickets")
    tickets.add_argument("--status")
    tickets.add_argument("--queue")
    tickets.add_argument("--json", action="store_true")
    tickets.add_argument("--delivery-failed", action="store_true",
                         help="only tickets with a participant a bounce marked undeliverable")
    show = sub.add_parser("show", help="one ticket with its messages and events")
    show.add_argument("number")
    show.add_argument("--json", action="store_true")
    outbox = sub.add_parser("outbox", help="outbound mail")
    outbox_sub = outbox.add_subparsers(dest="action", required=True)
    outbox_ls = outbox_sub.add_parser("ls", help="pending and failed deliveries")
    outbox_ls.add_argument("--all", action="store_true", help="include sent messages")
    outbox_ls.add_argument("--json", action="store_true")
    add_outbox_commands(outbox_sub)
    spool = sub.add_parser("spool", help="the queue of received messages")
    spool_sub = spool.add_subparsers(dest="action", required=True)
    spool_ls = spool_sub.add_parser("ls", help="pending, claimed and held messages")
    spool_ls.add_argument("--json", action="store_true")
    spool_retry = spool_sub.add_parser("retry", help="put a held message back in the queue")
    spool_retry.add_argument("spool_id")
    add_spool_commands(spool_sub)
    attachment = sub.add_parser("attachment", help="save one stored attachment of a ticket")
    attachment.add_argument("number")
    attachment.add_argument("n", type=int, help="the attachment's number, as `show` lists it")
    attachment.add_argument("--output", required=True,
                            help="file to write, or a directory to write it into under its "
                                 "own name (- for stdout)")
    raw = sub.add_parser("raw", help="the exact bytes of a message a ticket received")
    raw.add_argument("number")
    raw.add_argument("n", type=int, nargs="?", default=1,
                     help="the ticket's n-th received message (1, the default: the first)")
    raw.add_argument("--output", default="-", help="file or directory to write into "
                     "(default: standard output)")
    sweep = sub.add_parser("sweep", help="act on every ticket timer that is due, once")
    sweep.add_argument("--now", help="as of this UTC time (ISO-8601), instead of the clock")
    status = sub.add_parser("status", help="change a ticket's status (an agent's action)")
    status.add_argument("number")
    status.add_argument("status", choices=[s.value for s in Status])
    status.add_argument("--note", default="", help="internal note stored with the change")
    status.add_argument("--now", help=argparse.SUPPRESS)
    report = sub.add_parser("report", help="reports")
    report.add_argument("what", choices=["ratings", "sla"])
    report.add_argument("--json", action="store_true")
    add_sla_options(report)
    assign = sub.add_parser("assign", help="assign a ticket to an agent")
    assign.add_argument("number")
    assign.add_argument("agent")
    note = sub.add_parser("note", help="an internal note on a ticket (never emailed)")
    note.add_argument("number")
    note.add_argument("--body-file", required=True, help="the note's text (- for stdin)")
    reply = sub.add_parser("reply", help="send an agent's answer to the ticket's people")
    reply.add_argument("number")
    reply.add_argument("--from", dest="agent", required=True, help="the agent's address")
    reply.add_argument("--body-file", required=True, help="the answer's text (- for stdin)")
    reply.add_argument("--attach", action="append", default=[], metavar="FILE",
                       help="a file to attach (repeatable); its type comes from its content")
    reply.add_argument("--status", choices=[s.value for s in Status if s != Status.NEW],
                       help="the status after this answer (default: open for a new ticket)")
    reply.add_argument("--now", help=argparse.SUPPRESS)
    digest = sub.add_parser("digest", help="each team's daily digest, now (once a day)")
    digest.add_argument("--now", help="as of this time (ISO-8601; UTC unless it says)")
    digest.add_argument("--dry-run", action="store_true",
                        help="print each digest; queue and send nothing")
    automatic = sub.add_parser("automatic", help="automatic mail that joined no ticket")
    automatic.add_argument("--json", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # Before anything is created: tickets hold health data (files 0600, directories 0700).
    os.umask(0o077)
    argv = list(sys.argv[1:] if argv is None else argv)
    command = _command_of(argv)
    setup_logging(command)
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        return _usage_error(command, str(exc))
    if args.command == "templates":  # no configuration: it may name the folder to fill
        return cmd_templates(args)
    try:
        config, path = _load(args.config)
    except ConfigError as exc:
        log.error("configuration error: %s", exc)
        return EX_TEMPFAIL if command == "ingest" else EX_CONFIG
    try:
        if command not in ("check-config", "decide"):  # decide creates nothing
            _make_private(config)
        if args.command == "serve":
            from maildaemon.daemon import serve

            return serve(config, path)
        return COMMANDS[args.command](config, args)
    except TEMPORARY_ERRORS + (OSError,) as exc:
        log.error("temporary failure: %s", exc)
        return EX_TEMPFAIL
    except Exception as exc:
        if command != "ingest":
            raise
        # Never the message's text: only where it failed.
        where = traceback.extract_tb(exc.__traceback__)[-1]
        log.error("internal error %s at %s:%s; exit 75, the MTA keeps the message",
                  type(exc).__name__, Path(where.filename).name, where.lineno)
        return EX_TEMPFAIL


def _command_of(argv: list[str]) -> str | None:
    """The subcommand named on a command line, even one argparse refuses."""
    rest = iter(argv)
    for word in rest:
        if word == "--config":
            next(rest, None)
        elif not word.startswith("-"):
            return word
    return None


def _usage_error(command: str | None, message: str) -> int:
    if command == "ingest":
        log.error("%s; exit 75 so that the MTA keeps the message (for several recipients "
                  "the pipe's argv needs --rcpt=${recipient}, with the =)", message)
        return EX_TEMPFAIL
    build_parser().print_usage(sys.stderr)
    print(message, file=sys.stderr)
    return EX_USAGE


def _load(option: str | None) -> tuple[Config, Path]:
    path = resolve_config_path(option).resolve()
    return load_config(path), path


def _make_private(config: Config) -> None:
    """The data directory 0700, made so or tightened before any command opens a file in it;
    the outbound maildir (sent mail) tightened if it exists. Not made here: a command run by
    the wrong user (root) would leave it unwritable for the service; the sender makes it."""
    make_private(config.data_dir)
    if config.outbound.transport == "maildir" and config.maildir.is_dir():
        make_private(config.maildir)


def cmd_worker(config: Config, args: argparse.Namespace) -> int:
    from maildaemon.workproc import WorkerProcess

    return WorkerProcess(config, utc_now, args.wake_fd).run()


def cmd_portal(config: Config, args: argparse.Namespace) -> int:
    from maildaemon.portal.process import run_portal  # starlette, uvicorn: only here

    return run_portal(config, args.fd, args.wake_fd)


def cmd_check_config(config: Config, args: argparse.Namespace) -> int:
    problems = template_problems(config)  # the operator's overrides too (templates_config)
    from maildaemon.edge_tls import tls_problem  # aiosmtpd: not on `ingest`'s path

    tls = tls_problem(config.smtp)  # the certificate and key, as `serve` will load them
    if tls:
        problems.append(tls)
    database = storage_problem(config)  # PostgreSQL answers, at a schema we can read
    if database:
        problems.append(database)
    if problems:
        for problem in problems:
            print(f"maildaemon: {problem}", file=sys.stderr)
        return EX_CONFIG
    for name in unused_overrides(config.templates):
        print(f"maildaemon: warning: templates.directory: {name} overrides no template",
              file=sys.stderr)
    print(f"configuration OK: {config.source}")
    print(json.dumps(describe(config), indent=2, default=list))
    _warn_loose_modes(config)
    return EX_OK


def _warn_loose_modes(config: Config) -> None:
    """Tickets hold health data: warn (exit 0 still) of anything in the data directory or
    the outbound maildir that is not the service user's alone (0700 and 0600)."""
    roots = [config.data_dir] + ([config.maildir] if config.outbound.transport == "maildir"
                                 else [])
    for root in roots:
        count, first = loose_modes(root) if root.is_dir() else (0, [])
        if count:
            print(f"maildaemon: warning: {count} entries under {root} are open to group or "
                  f"others (directories should be 0700, files 0600): {'; '.join(first)}"
                  f"{' ...' if count > len(first) else ''}. Fix: chmod -R go= {root}",
                  file=sys.stderr)


def cmd_ingest(config: Config, args: argparse.Namespace) -> int:
    unreadable = [n for n in args.files if n != "-" and not Path(n).is_file()]
    if unreadable:
        # From an MTA (a message on stdin, or a recipient read as a file name) exit 75,
        # which keeps the mail queued; by hand, a file that is not there is a usage error.
        from_mta = "-" in args.files or any("@" in name for name in unreadable)
        log.error("not a readable file: %s%s", ", ".join(unreadable),
                  "; exit 75 so that the MTA keeps the message" if from_mta else "")
        return EX_TEMPFAIL if from_mta else EX_USAGE
    spool = Spool(config.data_dir, config.spool.max_attempts)
    store = open_store(config)
    fixed = clock_from(args.now) if args.now else None

    def clock() -> datetime:
        return fixed or utc_now()

    started = time.perf_counter()  # the pool's start-up counts too
    ingest = Ingest(config, spool, Worker(config, spool, store, clock),
                    Sender(open_store(config), transport_of(config),
                           config.outbound), clock, len(args.files))
    status = EX_OK
    outcomes: Counter[str] = Counter()
    reads: TicketReads | None = None  # opened once, if the daemon takes any message first
    for name, spool_id, result in ingest.run(args.files, args.sender,
                                             split_recipients(args.rcpt)):
        if result is not None:
            outcome, number, detail = result.outcome, result.ticket, result.detail
        else:
            reads = reads or open_reads(config)
            outcome, number, detail = _wait_for_daemon(reads, spool_id)
        print(f"{name}: {outcome} {number or '-'} (spool {spool_id})"
              + (f": {detail}" if outcome in ("held", "pending") else ""))
        outcomes[outcome] += 1
        if outcome == "pending":
            status = EX_TEMPFAIL
    report = ingest.delivered()
    summary = ", ".join(f"{count} {name}" for name, count in sorted(outcomes.items()))
    print(f"ingested {len(args.files)} messages ({summary}), sent {report.sent} replies "
          f"in {time.perf_counter() - started:.3f} s", file=sys.stderr)
    return status


def _wait_for_daemon(reads: TicketReads, spool_id: str) -> tuple[str, str | None, str]:
    """A running daemon claimed the message first: wait for its verdict."""
    for _ in range(600):
        done = reads.processed_outcome(spool_id)
        if done:
            return done[0], done[1], ""
        time.sleep(0.1)
    return "pending", None, "queued; the running daemon has not finished it yet"


def cmd_flush(config: Config, args: argparse.Namespace) -> int:
    store = open_store(config)
    sender = Sender(store, transport_of(config), config.outbound, lease_node(config))
    sender.release_stale_leases()
    report = sender.deliver_due(utc_now(), everything=True)
    print(f"sent {report.sent}, retrying {report.retrying}, failed {report.failed}")
    return EX_OK


def cmd_tickets(config: Config, args: argparse.Namespace) -> int:
    reads = open_reads(config)
    rows = [ticket_json(reads, row, full=False)
            for row in reads.ticket_rows(args.status, args.queue)]
    if args.delivery_failed:
        rows = [t for t in rows if t["delivery_failed"]]
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return EX_OK
    for t in rows:
        print(f"{t['number']}  {t['status']:<8} {t['priority']:<8} {t['queue']:<10} "
              f"{t['tier']:<10} {t['requester']:<30} {t['subject']}"
              + ("  [unverified]" if t["unverified"] else ""))
    return EX_OK


def cmd_show(config: Config, args: argparse.Namespace) -> int:
    reads = open_reads(config)
    row = reads.ticket_row(args.number)
    if row is None:
        print(f"maildaemon: no ticket {args.number}", file=sys.stderr)
        return EX_NOTFOUND
    data = ticket_json(reads, row)
    print(json.dumps(data, indent=2, ensure_ascii=False) if args.json else ticket_text(data))
    return EX_OK


def cmd_outbox(config: Config, args: argparse.Namespace) -> int:
    if args.action in OUTBOX_ACTIONS:
        return OUTBOX_ACTIONS[args.action](config, args)
    items = open_reads(config).outbox_rows(args.all)
    if args.json:
        print(json.dumps(items, indent=2))
        return EX_OK
    for i in items:
        print(f"{i['id']:>6} {i['status']:<8} {i['kind']:<15} {i['number'] or '-':<10} "
              f"{i['rcpt_to']:<30} attempts {i['attempts']} next {i['next_attempt_at']}"
              + (f"  last error: {i['last_error']}" if i["last_error"] else ""))
    if not items:
        print("outbox empty" if args.all else "nothing pending or failed")
    return EX_OK


def cmd_spool(config: Config, args: argparse.Namespace) -> int:
    if args.action in SPOOL_ACTIONS:
        return SPOOL_ACTIONS[args.action](config, args)
    spool = Spool(config.data_dir, config.spool.max_attempts)
    if args.action == "retry":
        if spool.retry(args.spool_id):
            print(f"{args.spool_id} back in the queue")
            return EX_OK
        print(f"maildaemon: no held spool entry {args.spool_id}", file=sys.stderr)
        return EX_NOTFOUND
    rows = spool.rows()
    if args.json:
        print(json.dumps([r.__dict__ for r in rows], indent=2, default=list))
        return EX_OK
    for r in rows:
        print(f"{r.spool_id} {r.state:<8} {r.received_at} from {r.mail_from or '<>'} "
              f"to {','.join(r.rcpt_tos) or '-'} {r.size} bytes, attempts {r.attempts}"
              + (f"  error: {r.error}" if r.error else ""))
    if not rows:
        print("spool empty")
    return EX_OK


def cmd_automatic(config: Config, args: argparse.Namespace) -> int:
    items = [dict(row) for row in open_reads(config).automatic_rows()]
    if args.json:
        print(json.dumps(items, indent=2, ensure_ascii=False))
        return EX_OK
    for i in items:
        print(f"{i['at']} {i['reason']:<22} {i['from_addr'] or '<>':<30} {i['subject']}")
    return EX_OK


def cmd_attachment(config: Config, args: argparse.Namespace) -> int:
    reads = open_reads(config)
    row = reads.ticket_row(args.number)
    files = reads.attachments_of(row["id"]) if row is not None else []
    if not 1 <= args.n <= len(files):
        print(f"maildaemon: {args.number} has no attachment {args.n} "
              f"({len(files)} stored)", file=sys.stderr)
        return EX_NOTFOUND
    data = reads.attachment_bytes(files[args.n - 1]["sha256"])
    if data is None:
        print(f"maildaemon: the bytes of {args.number} attachment {args.n} are missing",
              file=sys.stderr)
        return EX_NOTFOUND
    name = files[args.n - 1]["filename"]
    return _write_out(data, args.output, name, fallback=f"{args.number}-attachment-{args.n}")


def cmd_raw(config: Config, args: argparse.Namespace) -> int:
    """What the customer's mailer sent, byte for byte: for telling our decoding apart from
    theirs (a message that held sensitive data: its masked copy, masking.py)."""
    reads = open_reads(config)
    row = reads.ticket_row(args.number)
    received = [m for m in reads.messages_of(row["id"]) if m["direction"] == "inbound"] \
        if row is not None else []
    if not 1 <= args.n <= len(received):
        print(f"maildaemon: {args.number} has no received message {args.n} "
              f"({len(received)} received)", file=sys.stderr)
        return EX_NOTFOUND
    raw_id = received[args.n - 1]["raw_id"]
    data = reads.raw_message(raw_id) if raw_id is not None else None
    if data is None:
        print(f"maildaemon: the bytes of {args.number} message {args.n} were not kept",
              file=sys.stderr)
        return EX_NOTFOUND
    name = f"{args.number}-message-{args.n}.eml"
    return _write_out(data, args.output, name, fallback=name)


def cmd_digest(config: Config, args: argparse.Namespace) -> int:
    """What the worker does at `[notifications] digest_at`, now: an address that already
    had today's digest is skipped, so this never doubles the scheduled one."""
    from maildaemon.digest import Digests

    store = open_store(config)
    now = clock_from(args.now)
    outcomes = Digests(config, store).run(now, dry_run=args.dry_run)
    if not outcomes:
        print("no digest: [teams] names no address")
    for outcome in outcomes:
        if args.dry_run:
            print(f"To: {outcome.address}\nSubject: {outcome.subject}\n\n{outcome.mail.text}")
        else:
            print(f"{outcome.address}: {outcome.subject}: {outcome.result}")
    if not args.dry_run:
        sender = Sender(store, transport_of(config), config.outbound)
        print(f"sent {sender.deliver_due(now).sent}")
    return EX_OK


def _write_out(data: bytes, output: str, name: str, fallback: str) -> int:
    """To stdout (-), to the file `output`, or into the directory `output` under `name`,
    as `cp` does. A name from the sender's mail is cleaned when stored, but a directory
    may be someone's home: the name must still be a plain one, and an existing file there
    is never overwritten (exit 2)."""
    if output == "-":
        sys.stdout.buffer.write(data)
        return EX_OK
    target = Path(output)
    if target.is_dir():
        plain = name if name == Path(name).name and not name.startswith(".") and \
            "\0" not in name else ""
        target = target / (plain or fallback)
        try:
            with open(target, "xb") as handle:
                handle.write(data)
        except FileExistsError:
            print(f"maildaemon: {target} exists; give --output the file to write",
                  file=sys.stderr)
            return EX_USAGE
    else:
        target.write_bytes(data)
    print(f"{name} -> {target} ({len(data)} bytes)", file=sys.stderr)
    return EX_OK


COMMANDS = {
    "worker": cmd_worker,
    "portal": cmd_portal,
    "check-config": cmd_check_config,
    "decide": cmd_decide,
    "ingest": cmd_ingest,
    "flush": cmd_flush,
    "tickets": cmd_tickets,
    "show": cmd_show,
    "outbox": cmd_outbox,
    "spool": cmd_spool,
    "automatic": cmd_automatic,
    "attachment": cmd_attachment,
    "raw": cmd_raw,
    "sweep": cmd_sweep,
    "status": cmd_status,
    "reply": cmd_reply,
    "assign": cmd_assign,
    "report": cmd_report,
    "note": cmd_note,
    "digest": cmd_digest,
    "customers": cmd_customers,
    "escalate": cmd_escalate,
    "purge": cmd_purge,
    "route": cmd_route,
    "stats": cmd_stats,
    "backup": cmd_backup,
    "migrate": cmd_migrate,
}

__all__ = ["main", "load_secret"]
