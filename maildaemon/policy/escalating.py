"""The escalation steps of decide()'s table, and the decisions they build.

`escalation_by_address` comes early, before the threading steps: a mail to the escalation
address that names a ticket is a request about that ticket, whoever sends it, and must not
become a follow-up or a stranger's linked ticket. A reply in the thread of a ticket that is
in escalation already is no new request (our mail about it comes from the escalation
address, so every answer to it is "to escalation@"): it goes on as a follow-up.
`escalation_phrase` reads a joined ticket's reply for a phrase; it comes before the reopen
window, so a closed ticket within it is escalated (and reopened) rather than only reopened.
Neither escalates for a mail whose From our MTA does not vouch for (authenticity.py): it
opens a new ticket linked to the one it named. The rules themselves are in escalation.py.
"""

from __future__ import annotations

from dataclasses import replace

from maildaemon.domain import (
    AttachmentUsage,
    CommandResult,
    Decision,
    Escalation,
    EscalationFate,
    Event,
    Outcome,
    Status,
    TicketRef,
    TraceLine,
)
from maildaemon.policy.authenticity import refuse_unverified
from maildaemon.policy.decisions import judge_files, reply_or_limit, team_hears_of
from maildaemon.policy.escalation import (
    REOPENED,
    asks_for_escalation,
    closed_too_long,
    customer_of,
    escalation_events,
    plan,
    reason_from,
)
from maildaemon.policy.followup import is_participant
from maildaemon.policy.steps import Case, Verdict, hit, miss, note

NOT_TO_ESCALATION = miss("not to the escalation address, or it names no ticket number")
NO_TICKET = miss("joins no ticket")
NO_PHRASE = miss("its own words ask for no escalation")
ESCALATE_COMMAND = "#escalate"


def escalation_by_address(case: Case) -> Verdict:
    """A mail to the escalation address naming a ticket: escalated when the sender takes
    part in it; otherwise refused, in words that do not tell whether it exists."""
    named, mail, settings = case.ctx.escalation_named, case.mail, case.settings
    if named is None:
        return NOT_TO_ESCALATION
    if case.found.automated is not None:
        return miss("automatic mail is never an escalation request")
    number, ticket = named
    thread = case.ctx.header_hit
    if ticket is not None and thread is not None and thread.ticket.number == ticket.number \
            and (ticket.escalated or ticket.queue == settings.escalation_queue):
        return miss(f"a reply in the thread of {number}, in escalation already: a follow-up")
    sender = mail.from_addr or "<>"
    notes: list[TraceLine] = []
    why = _refusal(case, ticket)
    if why is not None:
        notes.append(note("escalation_refused", f"{sender} named {number}: {why}"))
        return hit(f"{number} is not {sender}'s to escalate", refused(case, number, notes),
                   notes=tuple(notes))
    assert ticket is not None
    if case.found.unverified is not None:  # a new ticket, linked (policy/authenticity.py)
        notes.append(note("unverified_not_escalated",
                          f"{sender} named {number}: {case.found.unverified}"))
        return miss(f"an unverified sender escalates nothing: {number} is only linked",
                    found=case.found._replace(refused=ticket), notes=tuple(notes))
    decision = escalate_by_mail(case, ticket, notes)
    return hit(f"{sender} asks to escalate {number}", decision, notes=tuple(notes))


def _refusal(case: Case, ticket: TicketRef | None) -> str | None:
    if ticket is None:
        return "no such ticket"
    if not is_participant(case.mail.from_addr, ticket, case.found.staff):
        return "not a participant"
    if closed_too_long(ticket, case.settings, case.now):
        return "closed longer than the reopen window"
    return None


def refused(case: Case, number: str, notes: list[TraceLine]) -> Decision:
    """Nothing changes; the sender gets the one answer every refusal gets (rate-limited)."""
    queue = case.settings.escalation_queue or case.settings.default_queue
    reply = reply_or_limit(case.mail, case.ctx, case.settings, "escalation_refused", queue,
                           notes)
    return Decision(Outcome.ESCALATION_REFUSED, reply=reply, escalation=Escalation(
        number, EscalationFate.REFUSED, case.mail.from_addr, "", queue=queue))


def escalation_phrase(case: Case) -> Verdict:
    """A participant's reply whose own words ask for escalation ("escalate this")."""
    ticket, mail, settings = case.found.ticket, case.mail, case.settings
    refusal = refuse_unverified(case, "escalates nothing")
    if refusal is not None:
        return refusal
    if ticket is None:
        return NO_TICKET
    if case.found.staff:
        return miss("proven staff: their words answer the customer, they ask nothing")
    phrase = asks_for_escalation(mail.own_text, settings.escalation_phrases)
    if phrase is None:
        return NO_PHRASE
    if closed_too_long(ticket, settings, case.now):
        return miss(f"{ticket.number} was closed too long ago: a new linked ticket")
    notes: list[TraceLine] = []
    decision = escalate_by_mail(case, ticket, notes)
    return hit(f"\"{phrase}\" in {mail.from_addr}'s own words", decision, notes=tuple(notes))


def escalate_by_mail(case: Case, ticket: TicketRef, notes: list[TraceLine]) -> Decision:
    """The message joins `ticket` and escalates it (or, escalated before, changes nothing
    but what any reply changes); the sender is told which."""
    mail, ctx, settings = case.mail, case.ctx, case.settings
    tier, manager = customer_of(ticket, ctx)
    esc = plan(ticket, tier, manager, mail.from_addr, reason_from(mail), settings, case.now)
    events = [Event("escalation_request", f"from {mail.from_addr}")]
    files = judge_files(mail, ctx.attachment_usage.get(ticket.number, AttachmentUsage()),
                        settings, events)
    events += escalation_events(esc, ticket.status)
    done = esc.fate == EscalationFate.ESCALATED
    notify: tuple[str, ...]
    if done:
        new_status = Status.OPEN if esc.reopened else None
        template, notify = "escalation_confirmed", ("escalated",)
    else:
        new_status = Status.OPEN if ticket.status in REOPENED else None
        if new_status is not None:
            events.append(Event("status", f"{ticket.status} -> open by customer reply"))
        template, notify = "escalation_already", team_hears_of(ticket, new_status, settings)
    reply = reply_or_limit(mail, ctx, settings, template, esc.queue or ticket.queue, notes)
    return Decision(Outcome.FOLLOWUP, ticket=ticket, new_status=new_status, reply=reply,
                    events=tuple(events), attachments=files,
                    new_priority=esc.priority if done else None,
                    assignee=esc.assignee if done else None, notify=notify, escalation=esc)


def agent_escalation(case: Case, ticket: TicketRef, agent: str, note_text: str,
                     after: TicketRef) -> Escalation:
    """An agent's `#escalate`: the same escalation, on the ticket as the agent's other
    commands leave it (`after`: its priority); the status stays the agent's to set."""
    tier, manager = customer_of(ticket, case.ctx)
    return plan(after, tier, manager, f"{agent}'s mail", note_text, case.settings,
                case.now, reopen=False)


def escalate_result(results: list[CommandResult], esc: Escalation) -> list[CommandResult]:
    """The agent's confirmation says when `#escalate` changed nothing."""
    if esc.fate == EscalationFate.ESCALATED:
        return results
    return [replace(r, applied=False, detail="already escalated: nothing changed")
            if r.applied and r.line.lower().startswith(ESCALATE_COMMAND) else r
            for r in results]
