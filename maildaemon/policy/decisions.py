"""The decisions the deciding steps build: a follow-up, a staff answer, a new ticket.

Rules checked on the way (an answer rate-limited, an address we cannot mail) are appended to
`notes`, the deciding step's part of the trace.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

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
    Tier,
    TraceLine,
)
from maildaemon.policy.addresses import bounded_list
from maildaemon.policy.attachments import judge
from maildaemon.policy.loops import may_autoreply
from maildaemon.policy.mailbox import is_mailbox
from maildaemon.policy.ownwords import own_words
from maildaemon.policy.premium import account_manager_for, receives_updates
from maildaemon.policy.routing import choose_queue, is_own_address
from maildaemon.policy.sla import due_times, sla_of
from maildaemon.policy.steps import note
from maildaemon.policy.triage import triage

LEFT_OUT_LISTED = 10  # addresses named in the event for those not made participants
STORED_SUBJECT = 1000  # characters of the subject kept on the ticket row
REOPENS = {Status.RESOLVED, Status.CLOSED}  # a reply to these opening it again is news


def mailable(address: str, notes: list[TraceLine]) -> bool:
    """Nothing is ever sent to a string that is not a mailable address."""
    if is_mailbox(address):
        return True
    notes.append(note("undeliverable",
                      f"{address[:100]!r} is not a mail address, nothing sent"))
    return False


def reply_or_limit(mail: InboundMail, ctx: Context, settings: PolicySettings, template: str,
                   queue: str, notes: list[TraceLine]) -> Reply | None:
    if not mailable(mail.from_addr, notes):
        return None
    if not may_autoreply(ctx.recent_autoreplies_to_sender, settings):
        notes.append(note("rate_limit", f"{ctx.recent_autoreplies_to_sender} automatic "
                                        f"answers to {mail.from_addr} in the last hour, "
                                        "not answering"))
        return None
    if ctx.autoreplies_today_to_sender >= settings.autoreply_max_per_day:  # limits.py
        notes.append(note("daily_limit", f"{ctx.autoreplies_today_to_sender} automatic "
                                         f"answers to {mail.from_addr} in the last day, "
                                         "not answering"))
        return None
    return Reply(template=template, to=mail.from_addr, queue=queue)


def judge_files(mail: InboundMail, usage: AttachmentUsage, settings: PolicySettings,
                events: list[Event]) -> tuple[AttachmentVerdict, ...]:
    verdicts = tuple(judge(mail.attachments, usage, settings.attachment_limits))
    for verdict in verdicts:
        name = verdict.candidate.filename
        if verdict.mismatch:
            events.append(Event("attachment_mismatch", f"{name}: {verdict.mismatch}"))
        if not verdict.accepted:
            events.append(Event("attachment_refused", f"{verdict.reason}: {verdict.words}"))
    return verdicts


def has_team(queue: str, settings: PolicySettings) -> bool:
    """Whether anyone is told of the queue's tickets (its team, else the default team)."""
    return bool(settings.teams.get(queue) or settings.teams.get("default"))


def team_hears_of(ticket: TicketRef, new_status: Status | None,
                  settings: PolicySettings) -> tuple[str, ...]:
    """What a participant's message on `ticket` tells its team: that a finished ticket
    opened again, else that the customer wrote; nothing without a team. (Only people's
    mail comes here: automatic mail, duplicates and staff answers are decided elsewhere
    and notify nobody.)"""
    if not has_team(ticket.queue, settings):
        return ()
    if new_status == Status.OPEN and ticket.status in REOPENS:
        return ("reopened",)
    return ("customer_reply",)


def followup(mail: InboundMail, ctx: Context, settings: PolicySettings, ticket: TicketRef,
             new_status: Status | None, event_type: str, notes: list[TraceLine]) -> Decision:
    """The message joins `ticket`; the sender is told it was received (unless limited),
    and the ticket's team is told of it."""
    events = [Event(event_type, f"reply from {mail.from_addr}")]
    files = judge_files(mail, ctx.attachment_usage.get(ticket.number, AttachmentUsage()),
                        settings, events)
    if new_status is not None and new_status != ticket.status:
        events.append(Event("status", f"{ticket.status} -> {new_status} by customer reply"))
    reply = reply_or_limit(mail, ctx, settings, "reply_received", ticket.queue, notes)
    return Decision(
        Outcome.FOLLOWUP,
        ticket=ticket,
        new_status=new_status if new_status != ticket.status else None,
        reply=reply,
        events=tuple(events),
        attachments=files,
        notify=team_hears_of(ticket, new_status, settings),
    )


def survey_for(ticket: TicketRef) -> Reply:
    return Reply(template="survey", to=ticket.requester, queue=ticket.queue,
                 auto_submitted="auto-generated")


def staff_reply(mail: InboundMail, ctx: Context, settings: PolicySettings,
                ticket: TicketRef, notes: list[TraceLine]) -> Decision:
    """A staff member answered in the ticket's thread by email: their own words go on to
    the requester as the agent's response, from the queue's address. Never the history
    the answer quotes (the customer's own message, with their account details): an inline
    answer goes without its quoted lines, and an answer that is only quote sends the
    customer nothing; the staff member is told instead (template agent_empty)."""
    words = own_words(mail.own_text)
    usage = ctx.attachment_usage.get(ticket.number, AttachmentUsage())
    if not words:
        events = [Event("agent_reply_empty", f"by {mail.from_addr}, by email: no text of "
                                             "their own, nothing sent to the customer")]
        files = judge_files(mail, usage, settings, events)
        told = reply_or_limit(mail, ctx, settings, "agent_empty", ticket.queue, notes)
        return Decision(Outcome.FOLLOWUP, ticket=ticket, reply=told, events=tuple(events),
                        attachments=files)
    events = [Event("agent_reply", f"by {mail.from_addr}, by email")]
    new_status = Status.OPEN if ticket.status == Status.NEW else None
    if new_status:
        events.append(Event("status", f"{ticket.status} -> {new_status} by "
                                      f"{mail.from_addr}'s reply"))
    files = judge_files(mail, usage, settings, events)
    reply = Reply(template="agent_reply", to=ticket.requester, queue=ticket.queue)
    return Decision(Outcome.FOLLOWUP, ticket=ticket, new_status=new_status,
                    reply=reply if mailable(reply.to, notes) else None,
                    events=tuple(events), attachments=files, agent_text=words)


def participants(mail: InboundMail, settings: PolicySettings
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


def new_ticket(mail: InboundMail, ctx: Context, settings: PolicySettings, now: datetime,
               related: tuple[str, ...], follows: str | None, notes: list[TraceLine],
               assignee: str | None = None, unverified: str = "") -> Decision:
    """A new ticket in the first queue addressed, acknowledged to the sender; one that
    follows a ticket closed too long ago goes to that ticket's agent (`assignee`), any
    other to the customer's account manager, who is copied on the acknowledgement.
    `unverified`: why its From address is not proven (authenticity.py), "" when it is."""
    recipients = [*mail.envelope_rcpts, *mail.to, *mail.cc]
    queue, addressed = choose_queue(recipients, settings)
    judged = triage(mail, ctx, settings, queue)  # the [Bug] route, priority, bug report
    queue, priority = judged.queue, judged.priority
    notes.extend(judged.lines)
    # The directory's tier, never one the mail claims; unknown senders are free.
    tier = ctx.customer.tier if ctx.customer is not None else Tier.FREE
    due = due_times(priority, tier, now, sla_of(settings))
    people, left_out = participants(mail, settings)
    events = [Event("created", f"queue {queue}, priority {priority}, tier {tier}")]
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
    manager = account_manager_for(ctx.customer, mail)
    if assignee and follows:
        events.append(Event("assigned", f"to {assignee}, the agent of {follows}"))
    elif manager:
        events.append(Event("assigned", f"to {manager}, the account manager of "
                                        f"{mail.from_addr}"))
    files = judge_files(mail, AttachmentUsage(), settings, events)
    new = NewTicket(
        queue=queue,
        priority=priority,
        subject=mail.subject[:STORED_SUBJECT],  # the whole one stays in the stored mail
        requester=mail.from_addr,
        participants=people,
        related=related,
        first_response_due=due.first_response,
        follows=follows,
        assignee=assignee if follows and assignee else manager,
        tier=tier,
        resolution_due=due.resolution,
        proactive=receives_updates(ctx.customer),
        unverified=unverified,
    )
    reply = reply_or_limit(mail, ctx, settings, "ack", queue, notes)
    if reply is not None and manager:
        reply = replace(reply, cc=(manager,))
    return Decision(Outcome.NEW_TICKET, new_ticket=new, reply=reply, events=tuple(events),
                    attachments=files,
                    notify=("new_ticket",) if has_team(queue, settings) else (),
                    bug_report=judged.bug_report)
