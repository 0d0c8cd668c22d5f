"""`maildaemon report sla [--json] [--since DATE] [--until DATE]`: targets met and missed.

The period is of tickets CREATED in it, by default the 30 days up to now; `--since` and
`--until` take a date (a whole UTC day: `--until 2026-11-30` includes the 30th) or a UTC
moment (ISO 8601). Each ticket counts once for each target, in the group of its queue,
priority and tier: met (answered, or resolved, by the due time), missed (later, or still
not done past it), or open (not done and not yet due, or waiting on the customer since
before it fell due: that clock is paused). Tickets from before the SLA clocks (issue 12)
have no resolution target and count in neither. The verdict of each is policy/sla.py's
`verdict`, as of the command's clock.

The period's tickets are read in one pass over the tickets table: a few hundred
milliseconds per million tickets, for a command run by hand or from cron, never by the
daemon.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from maildaemon.config import Config
from maildaemon.domain import Priority, Tier
from maildaemon.policy.sla import Kind, Verdict, verdict
from maildaemon.store import iso, open_reads, parse_iso

DEFAULT_DAYS = 30
EX_OK, EX_USAGE = 0, 2
DIMENSIONS = ("queue", "priority", "tier")
RANKS = {**{str(p): i for i, p in enumerate(Priority)}, **{str(t): i for i, t in enumerate(Tier)}}


def add_sla_options(report: argparse.ArgumentParser) -> None:
    """`report`'s options for `sla` (the ratings report has no period)."""
    report.add_argument("--since", help="sla: tickets created from this UTC date or moment"
                        f" (default: {DEFAULT_DAYS} days before --until)")
    report.add_argument("--until", help="sla: tickets created before this UTC moment, or"
                        " up to the end of this date (default: now)")
    report.add_argument("--now", help=argparse.SUPPRESS)  # tests: a controlled clock


def moment(text: str, end_of_day: bool = False) -> datetime:
    """A UTC date (its start, or with `end_of_day` the start of the next) or moment."""
    if len(text) == 10:
        day = datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=UTC)
        return day + timedelta(days=1) if end_of_day else day
    found = datetime.fromisoformat(text)
    return found.replace(tzinfo=UTC) if found.tzinfo is None else found.astimezone(UTC)


def period(args: argparse.Namespace, now: datetime) -> tuple[datetime, datetime]:
    until = moment(args.until, end_of_day=True) if args.until else now
    since = moment(args.since) if args.since else until - timedelta(days=DEFAULT_DAYS)
    if since >= until:
        raise ValueError(f"--since ({iso(since)}) must be before --until ({iso(until)})")
    return since, until


def counts() -> dict[str, Any]:
    return {"tickets": 0, **{str(k): {str(v): 0 for v in Verdict} for k in Kind}}


def add(into: dict[str, Any], verdicts: dict[Kind, Verdict | None]) -> None:
    into["tickets"] += 1
    for kind, found in verdicts.items():
        if found is not None:
            into[str(kind)][str(found)] += 1


def verdicts_of(row: dict[str, Any], now: datetime) -> dict[Kind, Verdict | None]:
    paused = parse_iso(row["status_since"]) if row["status"] == "waiting" else None
    return {
        Kind.FIRST_RESPONSE: verdict(parse_iso(row["first_response_due"]),
                                     parse_iso(row["first_response_at"]), now),
        Kind.RESOLUTION: verdict(parse_iso(row["resolution_due"]),
                                 parse_iso(row["resolved_at"]), now, paused),
    }


def sla_report(rows: Iterable[dict[str, Any]], since: datetime, until: datetime,
               now: datetime) -> dict[str, Any]:
    """The report's JSON: the period, every (queue, priority, tier) group, each dimension
    alone, and the total."""
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    by: dict[str, dict[str, dict[str, Any]]] = {d: {} for d in DIMENSIONS}
    total = counts()
    for row in rows:
        found = verdicts_of(row, now)
        key = (row["queue"], row["priority"], row["tier"])
        add(groups.setdefault(key, counts()), found)
        for dimension, value in zip(DIMENSIONS, key, strict=True):
            add(by[dimension].setdefault(value, counts()), found)
        add(total, found)
    return {
        "since": iso(since), "until": iso(until), "as_of": iso(now),
        "groups": [dict(zip(DIMENSIONS, key, strict=True), **value)
                   for key, value in sorted(groups.items(), key=lambda g: order(g[0]))],
        **{f"by_{d}": dict(sorted(by[d].items(), key=lambda i: order((i[0],))))
           for d in DIMENSIONS},
        "total": total,
    }


def order(values: tuple[str, ...]) -> tuple[tuple[int, str], ...]:
    """Queues by name; priorities from critical down; tiers from free up."""
    return tuple((RANKS.get(v, -1), v) for v in values)


def text(report: dict[str, Any]) -> str:
    def cells(c: dict[str, Any]) -> str:
        return "".join(f"  {c[str(k)]['met']:>5} {c[str(k)]['missed']:>6} {c[str(k)]['open']:>5}"
                       f" {rate(c[str(k)]):>5}" for k in Kind)

    head = "".join(f"  {'met':>5} {'missed':>6} {'open':>5} {'met%':>5}" for _ in Kind)
    lines = [f"SLA targets of the tickets created from {report['since']} to"
             f" {report['until']}, as of {report['as_of']}",
             f"{'':<42}  {'first response':<25}  resolution",
             f"{'queue':<12} {'priority':<9} {'tier':<11} {'tickets':>7}{head}"]
    for g in report["groups"]:
        lines.append(f"{g['queue']:<12} {g['priority']:<9} {g['tier']:<11} {g['tickets']:>7}"
                     f"{cells(g)}")
    total = report["total"]
    lines.append(f"{'total':<34} {total['tickets']:>7}{cells(total)}")
    if not report["groups"]:
        lines.append("no tickets were created in this period")
    return "\n".join(lines)


def rate(c: dict[str, int]) -> str:
    decided = c["met"] + c["missed"]
    return f"{100 * c['met'] / decided:.0f}%" if decided else "-"


def cmd_report_sla(config: Config, args: argparse.Namespace) -> int:
    now = moment(args.now) if args.now else datetime.now(UTC)
    try:
        since, until = period(args, now)
    except ValueError as exc:
        print(f"maildaemon: report sla: {exc}", file=sys.stderr)
        return EX_USAGE
    rows = open_reads(config).sla_rows(iso(since), iso(until))
    report = sla_report(rows, since, until, now)
    print(json.dumps(report, indent=2) if args.json else text(report))
    return EX_OK
