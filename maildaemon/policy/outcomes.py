"""The deciding steps of decide()'s table, from automatic mail to a new ticket.

Each states its own precondition (a ticket joined, a status, a sender) because the table
asks them in order and the first hit that decides ends the run. A mail whose From our MTA
does not vouch for joins no ticket (finding.py); the steps that would reopen, close or rate
one refuse it again on their own (authenticity.py), so no reordering of the table can let
it act.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from maildaemon.domain import Decision, Event, Outcome, Status, TicketRef, TraceLine
from maildaemon.policy.authenticity import refuse_unverified
from maildaemon.policy.decisions import followup, mailable, new_ticket, staff_reply, survey_for
from maildaemon.policy.limits import hold_receipt, opening_of
from maildaemon.policy.ownwords import confirms_solution, rating_in
from maildaemon.policy.steps import Case, Verdict, hit, miss
from maildaemon.policy.triage import with_bug_fields

REOPENED_BY_REPLY = {Status.WAITING, Status.RESOLVED}
# The misses that say the same every time, made once (a decision asks a dozen steps).
NOT_AUTOMATIC = miss("not automatic mail")
NOT_A_SURVEY_ANSWER = miss("not an answer to our satisfaction survey")
NO_RATING = miss("answers our survey without a rating 1-5")
NO_CLOSED_TICKET = miss("joins no closed ticket")
NOT_STAFF_IN_THREAD = miss("not proven staff answering in a ticket's thread")
NO_RESOLVED_TICKET = miss("joins no resolved ticket")
NOT_CONFIRMED = miss("the first line of the reply's own words does not confirm the solution")
NO_TICKET = miss("joins no ticket")


def automatic_mail(case: Case) -> Verdict:
    """Automatic mail is never answered; it is kept on the ticket its headers joined."""
    reason, ticket = case.found.automated, case.found.ticket
    if reason is None:
        return NOT_AUTOMATIC
    if ticket is None:
        return hit("kept off the tickets, not answered",
                   Decision(Outcome.AUTOMATIC, automated_reason=reason))
    sender = case.mail.from_addr or "<>"
    return hit(f"kept on {ticket.number}, not answered", Decision(
        Outcome.AUTOMATIC_ON_TICKET, ticket=ticket, automated_reason=reason,
        events=(Event("automatic_mail", f"{reason} from {sender}"),)))


def survey_reply(case: Case) -> Verdict:
    """A rating 1-5 in an answer to our survey is stored; the ticket stays as it is. Read
    in the reply's own words (ownwords.py): above, below or inline under the quoted survey,
    never the scale the survey itself quotes."""
    ticket = case.found.ticket
    refusal = refuse_unverified(case, "rates nothing")
    if refusal is not None:
        return refusal
    if ticket is None or not case.ctx.replied_to_survey:
        return NOT_A_SURVEY_ANSWER
    rating = rating_in(case.mail.own_text)
    if rating is None:
        return NO_RATING
    comment = f": {rating[1]}" if rating[1] else ""
    return hit(f"rating {rating[0]} for {ticket.number}", Decision(
        Outcome.FOLLOWUP, ticket=ticket, rating=rating,
        events=(Event("rating", f"{rating[0]} from {case.mail.from_addr}{comment}"),)))


def reopen_window(case: Case) -> Verdict:
    """A closed ticket reopens within `reopen_days`; later, a new linked ticket follows it."""
    ticket = case.found.ticket
    refusal = refuse_unverified(case, "reopens nothing")
    if refusal is not None:
        return refusal
    if ticket is None or ticket.status != Status.CLOSED:
        return NO_CLOSED_TICKET
    settings = case.settings
    if ticket.closed_at is None or \
            case.now - ticket.closed_at <= timedelta(days=settings.reopen_days):
        notes: list[TraceLine] = []
        decision = followup(case.mail, case.ctx, settings, ticket, Status.OPEN, "reopened",
                            notes)
        decision = hold_receipt(decision, ticket, case.now, notes)
        return hit(f"{ticket.number} closed less than {settings.reopen_days:g} days ago, "
                   "reopened", decision, notes=tuple(notes))
    return hit(f"{ticket.number} closed too long ago, new linked ticket",
               found=case.found._replace(ticket=None, related=(ticket.number,),
                                         follows=ticket.number,
                                         follows_assignee=ticket.assignee))


def staff_reply_step(case: Case) -> Verdict:
    """Proven staff answering in a thread: their text goes on to the requester."""
    ticket, mail = case.found.ticket, case.mail
    if ticket is None or not case.found.staff:
        return NOT_STAFF_IN_THREAD
    if mail.from_addr == ticket.requester:
        return miss(f"{mail.from_addr} is {ticket.number}'s requester")
    notes: list[TraceLine] = []
    decision = staff_reply(mail, case.ctx, case.settings, ticket, notes)
    return hit(f"{mail.from_addr} answers {ticket.number} by email", decision,
               notes=tuple(notes))


def confirmation(case: Case) -> Verdict:
    """The customer says "solved" to a resolved ticket: closed, and the survey sent. The
    first line of their own words counts, wherever they wrote it; our quoted notice never."""
    ticket = case.found.ticket
    refusal = refuse_unverified(case, "confirms nothing")
    if refusal is not None:
        return refusal
    if ticket is None or ticket.status != Status.RESOLVED:
        return NO_RESOLVED_TICKET
    if not confirms_solution(case.mail.own_text):
        return NOT_CONFIRMED
    notes: list[TraceLine] = []
    decision = followup(case.mail, case.ctx, case.settings, ticket, Status.CLOSED,
                        "confirmed", notes)
    survey = survey_for(ticket)
    decision = replace(decision, reply=None,
                       more_mail=(survey,) if mailable(survey.to, notes) else ())
    return hit("the customer confirmed the solution", decision, notes=tuple(notes))


def customer_reply(case: Case) -> Verdict:
    """A participant's message joins the ticket; waiting or resolved ones open again."""
    ticket = case.found.ticket
    if ticket is None:
        return NO_TICKET
    notes: list[TraceLine] = []
    new_status = Status.OPEN if ticket.status in REOPENED_BY_REPLY else None
    decision = followup(case.mail, case.ctx, case.settings, ticket, new_status,
                        "customer_reply", notes)
    decision = with_bug_fields(decision, case.mail, ticket, case.settings, notes)
    decision = hold_receipt(decision, ticket, case.now, notes)
    return hit(f"{case.mail.from_addr} follows up {ticket.number}", decision,
               notes=tuple(notes))


def new_ticket_step(case: Case) -> Verdict:
    """Nothing above decided: a new ticket, acknowledged, linked to what it named."""
    found = case.found
    refused: tuple[TicketRef, ...] = (found.refused,) if found.refused else ()
    related = (*found.related, *(t.number for t in refused))
    notes: list[TraceLine] = []
    decision = new_ticket(case.mail, case.ctx, case.settings, case.now, related,
                          found.follows, notes, assignee=found.follows_assignee,
                          unverified=found.unverified or "")
    decision = replace(decision, opening=opening_of(case.mail, case.settings, case.now))
    return hit("no reference or subject token this sender may follow", decision,
               notes=tuple(notes))
