"""What a new ticket is, from what the customer wrote: its queue after the `[Bug]` route,
its priority (priorityrules.py) and, for a bug report, the template's fields
(bugreport.py); and what a reply adds to a bug report's fields.

Both read the subject and the customer's own words (ownwords.customer_words): never the
history a mail quotes, never a signature. Every rule that fired is a trace line.
"""

from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

from maildaemon.domain import (
    BugReport,
    Context,
    Decision,
    InboundMail,
    PolicySettings,
    Priority,
    TicketRef,
    TraceLine,
)
from maildaemon.policy.bugreport import bug_route, describe, is_bug_report, read_bug_report
from maildaemon.policy.ownwords import customer_words
from maildaemon.policy.priorityrules import choose_priority
from maildaemon.policy.steps import note


class Triage(NamedTuple):
    queue: str
    priority: Priority
    bug_report: BugReport | None  # None: not a bug report
    lines: tuple[TraceLine, ...]


def triage(mail: InboundMail, ctx: Context, settings: PolicySettings, queue: str) -> Triage:
    """A new ticket routed to `queue`: where it goes, how urgent it is, its bug report."""
    queue, routed = bug_route(queue, mail.subject, settings)
    words = customer_words(mail.own_text)
    choice = choose_priority(queue, settings.queues.get("escalation", "escalation"),
                             mail.subject, words, ctx.customer, settings.priority_rules)
    lines = [*([routed] if routed else []), *choice.lines]
    report = None
    if is_bug_report(queue, mail.subject, settings):
        report = read_bug_report(words)
        lines.append(note("bug_report", describe(report)))
    return Triage(queue, choice.priority, report, tuple(lines))


def with_bug_fields(decision: Decision, mail: InboundMail, ticket: TicketRef,
                    settings: PolicySettings, notes: list[TraceLine]) -> Decision:
    """A customer's reply on a bug report may give what the report lacked ("App version:
    3.2.0"): the fields it names go with the decision, and the store fills those the
    ticket's report does not have yet (what was given before is kept)."""
    if not is_bug_report(ticket.queue, ticket.subject, settings):
        return decision
    report = read_bug_report(customer_words(mail.own_text))
    if report == BugReport():
        return decision
    found = describe(report).partition(";")[0]
    notes.append(note("bug_report", f"the reply: {found}; kept where the report had none"))
    return replace(decision, bug_report=report)
