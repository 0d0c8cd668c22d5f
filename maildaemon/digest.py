"""The daily digest: one mail per team address listing its queues' open tickets.

Agents who missed a notification (or joined today) see every ticket that still waits on
the team, by priority, the overdue ones first. "Open" is every status but resolved and
closed: a resolved ticket waits on the customer's confirmation and the sweep closes it, so
nothing in it is the team's to do. The due time is the first-response target while the
ticket is new (no agent answered yet); it is "overdue" once that has passed.

The mail carries no customer text beyond each ticket's subject (shortened). It is queued
on no ticket; `claim_digest` records the day per team and address in the same
transaction, so the scheduled job, a restart just after the hour and `maildaemon digest`
together send it once a day. The day is the date in `[notifications] digest_timezone`.
"""

from __future__ import annotations

import logging
import re
import secrets
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from apscheduler.triggers.cron import CronTrigger

from maildaemon.config import Config
from maildaemon.domain import OutgoingMail, Priority
from maildaemon.policy.followup import echoed_subject
from maildaemon.render import compose
from maildaemon.store import OpenTicket, TicketCommands, iso, parse_iso
from maildaemon.templates_config import environment_for

log = logging.getLogger("maildaemon.digest")

TEMPLATE = "team_digest"
LISTED = 500  # tickets listed per digest; the counts in the subject cover them all
SUBJECT_SHOWN = 80  # characters of a ticket's subject in the list
HH_MM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


@dataclass(frozen=True)
class Team:
    """Addresses that receive the same digest, and the queues it covers."""

    label: str  # the queues, sorted and joined: "billing" or "billing, tech"
    queues: tuple[str, ...]
    addresses: tuple[str, ...]


@dataclass(frozen=True)
class Outcome:
    team: str
    address: str
    subject: str
    result: str  # "queued", "already sent today", or "dry run"
    mail: OutgoingMail


def teams_of(config: Config) -> list[Team]:
    """Each distinct address list of [teams] with the queues it receives; the "default"
    team covers every queue without a team of its own."""
    queues_by_team: dict[tuple[str, ...], list[str]] = {}
    for queue in sorted(set(config.queues.values())):
        addresses = config.team_of(queue)
        if addresses:
            queues_by_team.setdefault(addresses, []).append(queue)
    return [Team(", ".join(queues), tuple(queues), addresses)
            for addresses, queues in queues_by_team.items()]


def digest_time(value: str) -> tuple[int, int]:
    """`"HH:MM"` as (hour, minute); ValueError for anything else."""
    match = HH_MM.fullmatch(value)
    if match is None:
        raise ValueError(f"{value!r} is not a time of day as HH:MM")
    return int(match.group(1)), int(match.group(2))


def digest_day(now: datetime, zone: str) -> str:
    """The date, in the digest's time zone, that a digest sent at `now` is for."""
    return now.astimezone(ZoneInfo(zone)).date().isoformat()


def past_digest_time(now: datetime, at: str, zone: str) -> bool:
    """Whether today's digest time (in `zone`) has come: a worker starting later in the
    day sends a digest that its predecessor did not."""
    local = now.astimezone(ZoneInfo(zone))
    return (local.hour, local.minute) >= digest_time(at)


def digest_trigger(at: str, zone: str) -> CronTrigger:
    """Daily at `at` in `zone`, whatever the offset to UTC that day (summer time)."""
    hour, minute = digest_time(at)
    return CronTrigger(hour=hour, minute=minute, timezone=ZoneInfo(zone))


def words_for(span: timedelta) -> str:
    """A duration as an agent reads it in a list: "40 min", "5 h", "3 d 4 h"."""
    minutes = max(0, int(span.total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    hours, days = minutes // 60, minutes // (24 * 60)
    return f"{hours} h" if days == 0 else f"{days} d {hours - days * 24} h"


def entry(ticket: OpenTicket, now: datetime, zone: ZoneInfo) -> dict[str, Any]:
    """One ticket as the templates list it."""
    created = parse_iso(ticket.created_at) or now
    due = parse_iso(ticket.first_response_due) if ticket.status == "new" else None
    return {
        "number": ticket.number,
        "subject": textwrap.shorten(echoed_subject(ticket.subject), SUBJECT_SHOWN,
                                    placeholder="...") or "(no subject)",
        "queue": ticket.queue, "priority": ticket.priority, "status": ticket.status,
        "age": words_for(now - created),
        "due": due.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z") if due else "",
        "late": words_for(now - due) if due is not None and due <= now else "",
    }


def digest_variables(team: Team, total: int, tickets: Iterable[OpenTicket], now: datetime,
                     zone: str) -> dict[str, Any]:
    """The overdue tickets first (the longest overdue on top), then the others by
    priority, each group in the store's order: by due time, then age."""
    tz = ZoneInfo(zone)
    entries = [entry(ticket, now, tz) for ticket in tickets]
    overdue = [e for e in entries if e["late"]]  # the store lists them by due time
    rest = [e for e in entries if not e["late"]]
    groups = []
    for priority in Priority:
        listed = [e for e in rest if e["priority"] == priority.value]
        if listed:
            groups.append({"priority": priority.value, "tickets": listed})
    others = [e for e in rest if e["priority"] not in {p.value for p in Priority}]
    if others:
        groups.append({"priority": "other", "tickets": others})
    return {"team": team.label, "day": digest_day(now, zone), "timezone": zone,
            "total": total, "overdue_count": len(overdue), "overdue": overdue,
            "groups": groups, "unlisted": max(0, total - len(entries))}


class Digests:
    """Builds and queues each team's digest as of `now`."""

    def __init__(self, config: Config, store: TicketCommands,
                 env: jinja2.Environment | None = None) -> None:
        self.config = config
        self.store = store
        self.env = env or environment_for(config.templates)

    def run(self, now: datetime, dry_run: bool = False) -> list[Outcome]:
        zone = self.config.notifications.digest_timezone
        day, stamp = digest_day(now, zone), iso(now)
        outcomes = []
        for team in teams_of(self.config):
            total, tickets = self.store.open_tickets(team.queues, LISTED)
            variables = digest_variables(team, total, tickets, now, zone)
            for address in team.addresses:
                mail = self.compose(team, address, variables, now)
                result = "dry run"
                if not dry_run:
                    with self.store.transaction():
                        claimed = self.store.claim_digest(team.label, address, day, stamp)
                        if claimed:
                            self.store.enqueue_unticketed(mail, stamp)
                    result = "queued" if claimed else "already sent today"
                    log.info("digest %s for [%s] to %s: %s", day, team.label, address, result)
                outcomes.append(Outcome(team.label, address, mail.subject, result, mail))
        return outcomes

    def compose(self, team: Team, address: str, variables: dict[str, Any],
                now: datetime) -> OutgoingMail:
        """The digest to one address, from the address of the team's first queue."""
        domain = self.config.mail.domain
        sender = self.config.queue_address(team.queues[0])
        subject = (f"[{team.label}] Daily digest: {variables['total']} open, "
                   f"{variables['overdue_count']} overdue")
        return compose(self.env, TEMPLATE, variables, kind=TEMPLATE,
                       sender=(f"{team.queues[0].capitalize()} digest", sender), to=address,
                       subject=subject, now=now,
                       message_id=f"<digest.{secrets.token_hex(8)}@{domain}>",
                       auto_submitted="auto-generated")
