"""The ordered steps that decide one message's fate, and the trace of why.

    step               fires when                                  result
    1 duplicate        dedup key (Message-ID + body hash) seen      nothing stored, nothing sent
    2 automated        RFC 3834 & friends (loops.py)                never answered
    3 header_thread    In-Reply-To/References name our/stored id    candidate ticket
    4 subject_thread   HS-dddddd token in the decoded subject       candidate ticket
    5 participant      sender is requester, copied or PROVEN staff  joins the candidate
                       (staff_unverified: a staff From address without our MTA's DMARC
                       pass is a stranger's: anyone can write it)
    6 reopen_window    candidate closed longer than reopen_days     new linked ticket instead
    7 new_ticket       nothing above matched                        new ticket, acknowledged;
                                                                    at most max_participants
                                                                    addresses become people
    8 rate_limit       too many automatic answers to this address   stored, not answered
    9 attachments      per-ticket quota and types (attachments.py)  refused files named in
                                                                    the reply
   10 survey_reply     a reply to our survey carrying a rating 1-5  rating stored, no reopen
   11 staff_reply      proven staff answers in a thread             sent on to the requester
   12 confirmation     a resolved ticket's customer says "solved"   closed, survey sent
Automatic mail keeps no attachments: a bounce's copy of our own message is not a file.
Nothing is ever sent to a string that is not a mailable address (undeliverable: ...).

Every step that fires leaves a line in the trace, stored as ticket events.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from maildaemon.domain import (
    AttachmentUsage,
    AttachmentVerdict,
    Context,
    Decision,
    Event,
    InboundMail,
    NewTicket,
    Outcome,
    PolicySettings,
    Reply,
    Status,
    TicketRef,
)
from maildaemon.policy.addresses import bounded_list
from maildaemon.policy.attachments import judge
from maildaemon.policy.followup import is_participant, is_staff
from maildaemon.policy.loops import automated_reason, may_autoreply
from maildaemon.policy.mailbox import is_mailbox
from maildaemon.policy.priority import first_response_due, priority_for
from maildaemon.policy.quoting import confirms_solution, rating_in
from maildaemon.policy.routing import choose_queue, is_own_address

REOPENED_BY_REPLY = {Status.WAITING, Status.RESOLVED}
LEFT_OUT_LISTED = 10  # addresses named in the event for those not made participants
STORED_SUBJECT = 1000  # characters of the subject kept on the ticket row


def decide(
    mail: InboundMail, ctx: Context, settings: PolicySettings, now: datetime
) -> Decision:
    if ctx.already_processed:
        return Decision(Outcome.DUPLICATE, trace=("duplicate: message already processed",))

    trace: list[str] = []
    reason = automated_reason(mail, settings)
    if reason:
        trace.append(f"automated: {reason}")

    staff = proven_staff(mail, settings, trace)
    ticket, strangers_ticket = _find_ticket(mail, ctx, staff, automated=reason is not None,
                                            trace=trace)

    if reason:
        if ticket is None:
            return Decision(Outcome.AUTOMATIC, automated_reason=reason, trace=tuple(trace))
        return Decision(
            Outcome.AUTOMATIC_ON_TICKET,
            ticket=ticket,
            automated_reason=reason,
            events=(Event("automatic_mail", f"{reason} from {mail.from_addr or '<>'}"),),
            trace=tuple(trace),
        )

    if ticket is not None and ctx.replied_to_survey:
        rating = rating_in(mail.text)
        if rating is not None:
            trace.append(f"survey_reply: rating {rating[0]} for {ticket.number}")
            return Decision(Outcome.FOLLOWUP, ticket=ticket, rating=rating,
                            events=(Event("rating", f"{rating[0]} from {mail.from_addr}"
                                          + (f": {rating[1]}" if rating[1] else "")),),
                            trace=tuple(trace))
    related: tuple[str, ...] = ()
    follows: str | None = None
    if ticket is not None and ticket.status == Status.CLOSED:
        if _within_reopen_window(ticket, settings, now):
            trace.append(f"reopen_window: {ticket.number} closed less than "
                         f"{settings.reopen_days:g} days ago, reopened")
            return _followup(mail, ctx, settings, ticket, Status.OPEN, trace, "reopened")
        trace.append(f"reopen_window: {ticket.number} closed too long ago, new linked ticket")
        related = (ticket.number,)
        follows = ticket.number
        ticket = None
    if ticket is not None and staff and mail.from_addr != ticket.requester:
        return _staff_reply(mail, ctx, settings, ticket, trace)
    if ticket is not None and ticket.status == Status.RESOLVED and \
            confirms_solution(mail.text):
        trace.append("confirmation: the customer confirmed the solution")
        decision = _followup(mail, ctx, settings, ticket, Status.CLOSED, trace, "confirmed")
        survey = survey_for(ticket)
        return replace(decision, reply=None,
                       more_mail=(survey,) if _mailable(survey.to, trace) else ())
    if ticket is not None:
        new_status = Status.OPEN if ticket.status in REOPENED_BY_REPLY else None
        return _followup(mail, ctx, settings, ticket, new_status, trace, "customer_reply")

    if strangers_ticket is not None:
        related = (*related, strangers_ticket.number)
    decision = _new_ticket(mail, ctx, settings, now, related, trace)
    if follows and decision.new_ticket is not None:
        decision = replace(decision, new_ticket=replace(decision.new_ticket, follows=follows))
    return decision


def proven_staff(mail: InboundMail, settings: PolicySettings, trace: list[str]) -> bool:
    """A staff From address counts only with a DMARC pass for its own domain that our MTA
    recorded (parse.py, authresults.py): anyone can write `From: it-desk@our-domain`, and a
    staff member's mail is relayed to customers as ours. Until agents get per-ticket reply
    addresses, an unproven one is treated as any stranger."""
    if not is_staff(mail.from_addr, settings):
        return False
    domain = mail.from_addr.rpartition("@")[2].lower()
    if domain and mail.dmarc_pass_domain == domain:
        trace.append(f"staff_verified: DMARC pass for {domain}")
        return True
    trace.append(f"staff_unverified: {mail.from_addr} has no DMARC pass from our MTA, "
                 "treated as a stranger")
    return False


def _find_ticket(
    mail: InboundMail, ctx: Context, staff: bool, automated: bool, trace: list[str]
) -> tuple[TicketRef | None, TicketRef | None]:
    """The ticket this message joins, and a ticket it named but may not join."""
    refused: TicketRef | None = None
    hit = ctx.header_hit
    if hit is not None:
        allowed = is_participant(mail.from_addr, hit.ticket, staff) or (
            automated and hit.via == "our_message_id"
        )
        if allowed:
            trace.append(f"header_thread: {hit.via} {hit.message_id} -> {hit.ticket.number}")
            return hit.ticket, None
        trace.append(f"sender_not_participant: {mail.from_addr} via header of "
                     f"{hit.ticket.number}")
        refused = hit.ticket
    for candidate in ctx.subject_tickets:
        if is_participant(mail.from_addr, candidate, staff):
            trace.append(f"token_from_subject: {candidate.number}")
            return candidate, None
        trace.append(f"sender_not_participant: {mail.from_addr} named {candidate.number} "
                     "in the subject")
        refused = refused or candidate
    return None, refused


def _within_reopen_window(ticket: TicketRef, settings: PolicySettings, now: datetime) -> bool:
    if ticket.closed_at is None:
        return True
    return now - ticket.closed_at <= timedelta(days=settings.reopen_days)


def _reply_or_limit(
    mail: InboundMail, ctx: Context, settings: PolicySettings, template: str, queue: str,
    trace: list[str],
) -> Reply | None:
    if not _mailable(mail.from_addr, trace):
        return None
    if not may_autoreply(ctx.recent_autoreplies_to_sender, settings):
        trace.append(f"rate_limit: {ctx.recent_autoreplies_to_sender} automatic answers to "
                     f"{mail.from_addr} in the last hour, not answering")
        return None
    return Reply(template=template, to=mail.from_addr, queue=queue)


def _mailable(address: str, trace: list[str]) -> bool:
    if is_mailbox(address):
        return True
    trace.append(f"undeliverable: {address[:100]!r} is not a mail address, nothing sent")
    return False


def _judge_files(mail: InboundMail, usage: AttachmentUsage, settings: PolicySettings,
                 events: list[Event]) -> tuple[AttachmentVerdict, ...]:
    verdicts = tuple(judge(mail.attachments, usage, settings.attachment_limits))
    for verdict in verdicts:
        name = verdict.candidate.filename
        if verdict.mismatch:
            events.append(Event("attachment_mismatch", f"{name}: {verdict.mismatch}"))
        if not verdict.accepted:
            events.append(Event("attachment_refused", f"{verdict.reason}: {verdict.words}"))
    return verdicts


def _followup(
    mail: InboundMail, ctx: Context, settings: PolicySettings, ticket: TicketRef,
    new_status: Status | None, trace: list[str], event_type: str,
) -> Decision:
    events = [Event(event_type, f"reply from {mail.from_addr}")]
    files = _judge_files(mail, ctx.attachment_usage.get(ticket.number, AttachmentUsage()),
                         settings, events)
    if new_status is not None and new_status != ticket.status:
        events.append(Event("status", f"{ticket.status} -> {new_status} by customer reply"))
    reply = _reply_or_limit(mail, ctx, settings, "reply_received", ticket.queue, trace)
    return Decision(
        Outcome.FOLLOWUP,
        ticket=ticket,
        new_status=new_status if new_status != ticket.status else None,
        reply=reply,
        events=tuple(events),
        trace=tuple(trace),
        attachments=files,
    )


def survey_for(ticket: TicketRef) -> Reply:
    return Reply(template="survey", to=ticket.requester, queue=ticket.queue,
                 auto_submitted="auto-generated")


def _staff_reply(mail: InboundMail, ctx: Context, settings: PolicySettings,
                 ticket: TicketRef, trace: list[str]) -> Decision:
    """A staff member answered in the ticket's thread by email: their own text goes on to
    the requester as the agent's response, from the queue's address."""
    trace.append(f"staff_reply: {mail.from_addr} answers {ticket.number} by email")
    events = [Event("agent_reply", f"by {mail.from_addr}, by email")]
    new_status = Status.OPEN if ticket.status == Status.NEW else None
    if new_status:
        events.append(Event("status", f"{ticket.status} -> {new_status} by "
                                      f"{mail.from_addr}'s reply"))
    files = _judge_files(mail, ctx.attachment_usage.get(ticket.number, AttachmentUsage()),
                         settings, events)
    reply = Reply(template="agent_reply", to=ticket.requester, queue=ticket.queue)
    return Decision(Outcome.FOLLOWUP, ticket=ticket, new_status=new_status,
                    reply=reply if _mailable(reply.to, trace) else None,
                    events=tuple(events), trace=tuple(trace), attachments=files)


def _participants(mail: InboundMail, settings: PolicySettings
                  ) -> tuple[tuple[str, ...], list[str]]:
    """The requester, then the copied addresses up to `max_participants` in all; and the
    copied addresses left out. One opening mail with 10,000 Cc addresses must not make
    every later answer 10,000 deliveries. An address we could not mail is never copied."""
    copied = dict.fromkeys(
        a for a in (*mail.to, *mail.cc)
        if a and a != mail.from_addr and not is_own_address(a, settings) and is_mailbox(a)
    )
    room = max(settings.max_participants - 1, 0)
    ordered = list(copied)
    return (mail.from_addr, *ordered[:room]), ordered[room:]


def _new_ticket(
    mail: InboundMail, ctx: Context, settings: PolicySettings, now: datetime,
    related: tuple[str, ...], trace: list[str],
) -> Decision:
    recipients = [*mail.envelope_rcpts, *mail.to, *mail.cc]
    queue, addressed = choose_queue(recipients, settings)
    priority = priority_for(queue, mail.subject)
    participants, left_out = _participants(mail, settings)
    trace.append("new_ticket: no reference or subject token this sender may follow")
    events = [Event("created", f"queue {queue}, priority {priority}")]
    if left_out:
        named = ", ".join(bounded_list([a[:100] for a in left_out], LEFT_OUT_LISTED))
        events.append(Event("participants_capped",
                            f"{len(left_out):,} more addresses not added as participants "
                            f"(limit {settings.max_participants}): {named}"))
    if len(addressed) > 1:
        others = ", ".join(q for q in addressed if q != queue)
        events.append(Event("routed", f"also addressed to {others}; {queue} comes first"))
    elif not addressed:
        events.append(Event("routed", f"no address of ours among the recipients; {queue}"))
    for number in related:
        events.append(Event("related", f"linked to {number}"))
    files = _judge_files(mail, AttachmentUsage(), settings, events)
    new = NewTicket(
        queue=queue,
        priority=priority,
        subject=mail.subject[:STORED_SUBJECT],  # the whole one stays in the stored mail
        requester=mail.from_addr,
        participants=participants,
        related=related,
        first_response_due=first_response_due(priority, settings, now),
    )
    reply = _reply_or_limit(mail, ctx, settings, "ack", queue, trace)
    return Decision(Outcome.NEW_TICKET, new_ticket=new, reply=reply, events=tuple(events),
                    trace=tuple(trace), attachments=files)
