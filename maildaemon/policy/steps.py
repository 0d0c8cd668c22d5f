"""The machinery of decide()'s table: a step is a name, a line of description and a function.

Each step looks at one `Case` (the message, its context from the store, the settings, the
time, and what the steps before it found) and answers with a `Verdict`: hit or miss, a
detail for the trace, and, when it hits, either facts for the steps after it or the
`Decision` that ends the run. The table itself, in order, is in decide.py; a new rule is one
function and one row there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from maildaemon.domain import (
    Context,
    Decision,
    InboundMail,
    PolicySettings,
    TicketRef,
    TraceLine,
)


class Found(NamedTuple):
    """What earlier steps learned, for the steps after them (`found._replace(...)`)."""

    automated: str | None = None  # the automatic-mail reason (policy/loops.py)
    staff: bool = False  # a staff address that proved itself (DMARC pass from our MTA)
    ticket: TicketRef | None = None  # the ticket the message joins
    refused: TicketRef | None = None  # a ticket it named but may not join (a stranger's)
    related: tuple[str, ...] = ()  # tickets a new ticket is linked to
    follows: str | None = None  # the requester's closed ticket a new one follows
    follows_assignee: str | None = None  # that ticket's agent, who keeps the customer
    # Why the From address is not proven (policy/authenticity.py); None: proven, or not
    # judged. Such a mail joins, reopens, escalates and confirms nothing.
    unverified: str | None = None
    auto_kind: str | None = None  # what automatic mail is: "bounce", "auto_reply" ...


class Case:
    """Everything a step may look at: the decision stays a function of these values.

    One per message, its `found` replaced by `run_steps` after each step (steps only read
    it): a dozen frozen copies cost more than the rest of a decision on a reply.
    """

    __slots__ = ("mail", "ctx", "settings", "now", "found")

    def __init__(self, mail: InboundMail, ctx: Context, settings: PolicySettings,
                 now: datetime, found: Found | None = None) -> None:
        self.mail, self.ctx, self.settings, self.now = mail, ctx, settings, now
        self.found = found or Found()


class Verdict(NamedTuple):
    """A step's answer. `notes` are rules checked inside the step that fired (a sender
    refused, an answer rate-limited), kept in the trace after the step's own line."""

    hit: bool
    detail: str
    decision: Decision | None = None  # ends the run
    found: Found | None = None  # replaces what the next steps see
    notes: tuple[TraceLine, ...] = ()


def hit(detail: str, decision: Decision | None = None, found: Found | None = None,
        notes: tuple[TraceLine, ...] = ()) -> Verdict:
    return Verdict(True, detail, decision, found, notes)


def miss(detail: str, found: Found | None = None, notes: tuple[TraceLine, ...] = ()
         ) -> Verdict:
    return Verdict(False, detail, None, found, notes)


def note(rule: str, detail: str) -> TraceLine:
    """A rule that fired inside a step: kept, like every step's hit."""
    return TraceLine(rule, True, detail, kept=True)


@dataclass(frozen=True)
class Step:
    name: str
    description: str
    run: Callable[[Case], Verdict]
    # False when the decision's own events already record the hit (customer_reply, ...).
    kept: bool = True


class TableWithoutEnd(Exception):
    """Every table ends with a step that always decides (new_ticket)."""


def run_steps(steps: tuple[Step, ...], mail: InboundMail, ctx: Context,
              settings: PolicySettings, now: datetime) -> Decision:
    """Ask each step in order until one decides; the trace records every answer."""
    case = Case(mail, ctx, settings, now)
    trace: list[TraceLine] = []
    for step in steps:  # bounded: one pass over the table
        verdict = step.run(case)
        trace.append(TraceLine(step.name, verdict.hit, verdict.detail,
                               verdict.hit and step.kept))
        if verdict.notes:
            trace.extend(verdict.notes)
        if verdict.found is not None:
            case.found = verdict.found
        if verdict.decision is not None:
            return _with_trace(verdict.decision, tuple(trace))
    raise TableWithoutEnd(f"no step decided; last asked: {trace[-1] if trace else 'none'}")


def _with_trace(decision: Decision, lines: tuple[TraceLine, ...]) -> Decision:
    """A copy of the step's decision with the trace filled in: `dataclasses.replace`'s
    field inspection cost a fifth of a decision's time, so its fields are copied as is."""
    copy = object.__new__(Decision)
    copy.__dict__.update(vars(decision), trace_lines=lines)
    return copy
