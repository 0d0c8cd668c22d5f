"""Escalation: who may ask for it, how a mail asks, and what it changes (issue 12, point 5).

A ticket is escalated by a mail to the escalation address naming its number, by a reply
whose own words ask for it ("please escalate this ticket", `[escalation] phrases`), by an
agent (`#escalate`, `maildaemon escalate`) or, when configured, by the sweep on a breached
first response. Every way ends in `plan()`: the priority one level up, capped by the
customer's tier (high for free and plus, critical for premium and enterprise; a priority
already above the cap is never lowered), the first-response target recomputed for it, the
ticket moved to the escalation queue and assigned to the escalation manager. A ticket
escalated before changes nothing (EscalationFate.ALREADY), and the asker is told so.

Only a participant of the ticket may ask by mail: a stranger, a number with no ticket and
a ticket closed longer than the reopen window all get the same answer, so the answer never
tells whether a number exists. Numbers are `HS-` and 6 to 8 digits, as tickets are; five
or nine digits name nothing. Quoted history never asks for anything: phrases and numbers
are read in the mail's own words (ownwords.py).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from maildaemon.domain import (
    Context,
    Escalation,
    EscalationFate,
    Event,
    InboundMail,
    PolicySettings,
    Priority,
    Status,
    TicketRef,
    Tier,
)
from maildaemon.policy.addresses import shorten
from maildaemon.policy.followup import TOKEN, tokens_in_subject
from maildaemon.policy.ownwords import own_words
from maildaemon.policy.routing import queue_for_address
from maildaemon.policy.sla import DueTimes, due_times, sla_of

# The support page's words; `[escalation] phrases` replaces them.
DEFAULT_PHRASES = ("please escalate this ticket", "escalate this", "please escalate")
LADDER = (Priority.LOW, Priority.MEDIUM, Priority.HIGH, Priority.CRITICAL)
CAP = {Tier.FREE: Priority.HIGH, Tier.PLUS: Priority.HIGH,
       Tier.PREMIUM: Priority.CRITICAL, Tier.ENTERPRISE: Priority.CRITICAL}
REOPENED = frozenset({Status.WAITING, Status.RESOLVED, Status.CLOSED})
REASON_CHARS = 500  # of the asker's own words kept as the reason
READ_CHARS = 100_000  # of a mail's own words searched for a phrase or a number
# Right before a phrase, these say the opposite: "please don't escalate this yet".
NEGATED = re.compile(r"(?:\bnot|n['’]t|\bnever|\bno need to)\s+$", re.IGNORECASE)


def raised_priority(priority: Priority, tier: Tier) -> Priority:
    """One level up, at most the tier's cap; never lower than it was."""
    rank = LADDER.index
    up = LADDER[min(rank(priority) + 1, len(LADDER) - 1)]
    capped = min(up, CAP[tier], key=rank)
    return max(priority, capped, key=rank)


def due_after_escalation(priority: Priority, tier: Tier, settings: PolicySettings,
                         now: datetime) -> DueTimes:
    """Both due times of an escalated ticket, counted from the escalation (`now`): the
    targets of its new priority for its tier (policy/sla.py). From `now`, not from the
    ticket's creation: an escalated old ticket would otherwise be overdue at once, and
    the customer was just promised the new response time."""
    return due_times(priority, tier, now, sla_of(settings))


def closed_too_long(ticket: TicketRef, settings: PolicySettings, now: datetime) -> bool:
    """A closed ticket past the reopen window: a reply makes a new ticket, and it can no
    longer be escalated by mail."""
    return ticket.status == Status.CLOSED and ticket.closed_at is not None and \
        now - ticket.closed_at > timedelta(days=settings.reopen_days)


def phrase_pattern(phrases: tuple[str, ...]) -> str:
    """One pattern for every phrase: whole words, any spacing between them (none: a
    pattern that never matches). A word joined by a hyphen is another word: "de-escalate
    this" asks for nothing."""
    words = [r"\s+".join(re.escape(w) for w in p.split()) for p in phrases if p.strip()]
    return r"(?<![\w-])(?:" + "|".join(words) + r")(?![\w-])" if words else r"(?!)"


def asks_for_escalation(own_text: str, phrases: tuple[str, ...]) -> str | None:
    """The phrase the mail's own words ask with (any case), or None; quoted lines never
    count, nor a phrase right after "not", "don't", "never" or "no need to"."""
    if not own_text:
        return None
    words = own_words(own_text[:READ_CHARS])
    for found in re.finditer(phrase_pattern(phrases), words, re.IGNORECASE):
        if not NEGATED.search(words[max(0, found.start() - 20):found.start()]):
            return " ".join(found.group(0).split()).lower()
    return None


def to_escalation_address(mail: InboundMail, settings: PolicySettings) -> bool:
    queue = settings.escalation_queue
    return queue is not None and any(
        queue_for_address(a, settings) == queue
        for a in (*mail.envelope_rcpts, *mail.to, *mail.cc))


def number_named(mail: InboundMail, settings: PolicySettings) -> str | None:
    """The ticket a mail to the escalation address names: the first number in its
    subject, else the first in its own words. None for other mail (context.py asks)."""
    if not to_escalation_address(mail, settings):
        return None
    in_subject = tokens_in_subject(mail.subject)
    if in_subject:
        return in_subject[0]
    found = TOKEN.search(own_words(mail.own_text[:READ_CHARS]))
    return f"HS-{found.group(1)}" if found else None


def customer_of(ticket: TicketRef, ctx: Context) -> tuple[Tier, str | None]:
    """The tier and account manager of the ticket's customer, its requester: the sender's
    entry when the requester wrote, else the requester's (context.py loads it); free and
    none when the directory does not know them."""
    requester = ticket.requester.lower()
    for entry in (ctx.customer, ctx.requester_customer):
        if entry is not None and entry.email == requester:
            return entry.tier, entry.account_manager
    return Tier.FREE, None


def reason_from(mail: InboundMail) -> str:
    """Why they asked, in their own words (bounded, one line); the subject without."""
    words = " ".join(own_words(mail.own_text[:READ_CHARS]).split())
    return shorten(words or " ".join(mail.subject.split()), REASON_CHARS)


def plan(ticket: TicketRef, tier: Tier, account_manager: str | None, by: str, reason: str,
         settings: PolicySettings, now: datetime, reopen: bool = True) -> Escalation:
    """What escalating `ticket` does (or, escalated before, that nothing changes). A
    customer's escalation (`reopen`) opens a waiting, resolved or closed ticket again, as
    their reply would; an agent's leaves the status to the agent."""
    current = ticket.priority or Priority.MEDIUM
    reason = shorten(" ".join(reason.split()), REASON_CHARS)
    if ticket.escalated:
        return Escalation(ticket.number, EscalationFate.ALREADY, by, reason,
                          priority=current, old_priority=current, queue=ticket.queue,
                          old_queue=ticket.queue)
    new = raised_priority(current, tier)
    due = due_after_escalation(new, tier, settings, now)
    return Escalation(
        ticket.number, EscalationFate.ESCALATED, by, reason, priority=new,
        old_priority=current, queue=settings.escalation_queue or ticket.queue,
        old_queue=ticket.queue, assignee=settings.escalation_manager,
        first_response_due=due.first_response, resolution_due=due.resolution, tier=tier,
        account_manager=account_manager, reopened=reopen and ticket.status in REOPENED)


def escalation_events(esc: Escalation, status: Status) -> list[Event]:
    """The ticket's events: who asked and why, and each change."""
    if esc.fate != EscalationFate.ESCALATED:
        return [Event("escalation_repeated", f"already escalated; asked again by {esc.by}"
                                             + (f": {esc.reason}" if esc.reason else ""))]
    changes = [f"priority {esc.old_priority} -> {esc.priority}"]
    if esc.queue != esc.old_queue:
        changes.append(f"queue {esc.old_queue} -> {esc.queue}")
    if esc.assignee:
        changes.append(f"assigned to {esc.assignee}")
    why = f": {esc.reason}" if esc.reason else ""
    events = [Event("escalated", f"by {esc.by}{why} ({'; '.join(changes)})")]
    if esc.reopened:
        events.append(Event("status", f"{status} -> open by the escalation"))
    return events
