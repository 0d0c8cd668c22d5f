"""Bounces of our mail: linked to their ticket, and what an undeliverable address changes.

- A bounce (loops.py's kind) that names failed addresses and a message of ours (context.py
  found its ticket: our Message-ID in the headers it returns, or the failed address and our
  latest mail to it) is kept on that ticket with a `bounce` event per failed address: the
  status code, the address, the remote server's words. A permanent failure (5.x.x) of a
  participant marks the address undeliverable; a temporary one (4.x.x) is recorded only.
  A bounce that names no message of ours is automatic mail and nothing else.
- While an address is marked, the reminders, notices, surveys and updates we would send
  it on our own are withheld (`withheld`, checked where mail is queued); answers to its
  own mail and an agent's deliberate answer still go. The lifecycle does not close a
  ticket as silent, nor remind, when its requester never got our mail: the sweep hands
  it back to agents instead (`hand_over_detail`, bounce_sweep.py).
- A later message from the address (a person's, not automatic) clears the mark.

Anyone can forge a bounce. Through the returned headers, only with a Message-ID of ours
(HMAC-verified) that the forger received; through the outbox, with an address we wrote to
in the last BOUNCE_WINDOW. The worst a forger does is withhold our automatic mail from
one address until it writes again, and send the ticket to agents early.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from maildaemon.domain import (
    Context,
    Decision,
    Event,
    FailedRecipient,
    InboundMail,
    Outcome,
    TraceLine,
)
from maildaemon.policy.steps import Case, Verdict, hit, miss

BOUNCE_WINDOW = timedelta(days=7)  # bounces come within days; a queue gives up after 5
MAX_LOOKUPS = 5  # failed addresses looked up in the outbox, per bounce
# The mail we send on our own, not in answer to the address's own message: withheld from
# an undeliverable address. Acknowledgements and confirmations answer a message it just
# sent (which cleared the mark); an agent's answer is theirs to send.
WITHHELD = frozenset({"reminder", "waiting_on_customer", "closed", "survey", "status_update",
                      "escalation_confirmed"})
PEOPLE = frozenset({Outcome.NEW_TICKET, Outcome.FOLLOWUP, Outcome.AGENT_ANSWER,
                    Outcome.AGENT_COMMENT})
ACTIONS = {"remind": "reminder", "mark_waiting": "waiting-on-customer notice",
           "close": "closing"}
NOT_A_BOUNCE = miss("not a bounce naming a failed address")


def withheld(kind: str) -> bool:
    """Is mail of this kind withheld from an address marked undeliverable?"""
    return kind in WITHHELD or kind.startswith("status_")


def bounce(case: Case) -> Verdict:
    """A bounce of our mail: kept on its ticket, each failed address an event, the
    permanent failures of the ticket's people marked undeliverable."""
    mail, found, match = case.mail, case.found, case.ctx.bounced
    report = mail.report
    if found.auto_kind != "bounce" or report is None or not report.failures:
        return NOT_A_BOUNCE
    ticket = found.ticket or (match.ticket if match else None)
    if ticket is None:
        return miss("a bounce naming no message of ours: recorded as automatic mail only")
    via = "its thread headers" if found.ticket is not None or match is None else \
        {"returned_headers": f"our message {match.detail} in its returned headers",
         "outbox_recipient": f"our latest mail to {match.detail}"}[match.via]
    people = {*ticket.participants, ticket.requester.lower()}
    events = [Event("automatic_mail", f"{found.automated} from {mail.from_addr or '<>'}")]
    marks: list[FailedRecipient] = []
    for failure in report.failures:  # bounded: reports.py keeps 50
        ours = next((a for a in (failure.address, failure.original) if a in people), "")
        if not failure.permanent:
            fate = "temporary failure, recorded only"
        elif ours:
            fate = "permanent failure: marked undeliverable"
            marks.append(replace(failure, address=ours))
        else:
            fate = f"permanent failure of an address not on {ticket.number}: not marked"
        why = f" ({failure.diagnostic})" if failure.diagnostic else ""
        events.append(Event("bounce", f"{failure.status} {failure.address}: {fate}{why}"))
    return hit(f"{len(report.failures)} failed address(es), found by {via}: "
               f"{ticket.number}", Decision(
                   Outcome.AUTOMATIC_ON_TICKET, ticket=ticket,
                   automated_reason=found.automated, events=tuple(events),
                   undeliverable=tuple(marks)))


def with_delivery_restored(decision: Decision, mail: InboundMail, ctx: Context) -> Decision:
    """A person's mail from a marked address clears the mark: it is reachable again."""
    if ctx.sender_undeliverable is None or decision.outcome not in PEOPLE:
        return decision
    detail = (f"{mail.from_addr} wrote again: no longer marked undeliverable "
              f"(was {ctx.sender_undeliverable})")
    return replace(decision, deliverable_again=mail.from_addr,
                   events=(*decision.events, Event("delivery_restored", detail)),
                   trace_lines=(*decision.trace_lines,
                                TraceLine("delivery_restored", True, detail)))


def hand_over_detail(action: str, requester: str, mark: str) -> str:
    """The event of a ticket the sweep hands to agents instead of `action`."""
    return (f"instead of the {ACTIONS.get(action, action)}: {requester} is undeliverable "
            f"({mark}); the customer never got our mail, so agents take it from here")
