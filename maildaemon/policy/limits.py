"""Limits that hold whatever headers a robot sets (or leaves out): issue 13, point 3.

loops.py recognises automatic mail by its headers; a robot that sets none looks like a
person. What bounds us then is counting, never reading:

- **per address** (decisions.py `reply_or_limit`): at most `autoreply.max_per_hour`
  automatic answers an hour and `autoreply.max_per_day` a day (`rate_limit`,
  `daily_limit`);
- **per ticket**: at most one receipt confirmation an hour (`ack_limit`). The
  acknowledgement of a new ticket counts, so a robot that answers it gets no confirmation
  back and the ping-pong ends at once. A confirmation that names refused files still goes:
  without it the customer would believe the file arrived;
- **a flood of new tickets** from one address (`flood.max_new_tickets` within
  `flood.window_minutes`): further mail that would open a ticket joins the address's one
  flood ticket instead, for agents to look at, answered at most once (when it opens).

Each limit reached is a line of the trace, and so an event of the ticket the message is
stored on: nothing is dropped, only not answered.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from maildaemon.domain import (
    AttachmentUsage,
    Decision,
    Event,
    InboundMail,
    Opening,
    Outcome,
    PolicySettings,
    Status,
    TicketRef,
    TraceLine,
)
from maildaemon.policy.decisions import judge_files, new_ticket
from maildaemon.policy.duplicates import duplicate_key
from maildaemon.policy.steps import Case, Verdict, hit, miss, note

ACK_INTERVAL = timedelta(hours=1)  # one receipt confirmation per ticket within this
FLOOD_SUBJECT = "Many new requests from {sender}"  # the flood ticket's subject
SHOWN_SENDER = 100  # characters of the address in the flood ticket's subject


def within_the_hour(at: datetime | None, now: datetime) -> bool:
    return at is not None and now - at < ACK_INTERVAL


def hold_receipt(decision: Decision, ticket: TicketRef, now: datetime,
                 notes: list[TraceLine]) -> Decision:
    """The per-ticket limit on a follow-up's receipt confirmation (`reply_received`)."""
    reply = decision.reply
    if reply is None or reply.template != "reply_received" \
            or not within_the_hour(ticket.acked_at, now) or decision.refused_words:
        return decision
    notes.append(note("ack_limit", f"{ticket.number} confirmed a message less than an hour "
                                   "ago: this one is stored, not confirmed"))
    return replace(decision, reply=None)


def opening_of(mail: InboundMail, settings: PolicySettings, now: datetime,
               flood: bool = False) -> Opening:
    """What the store remembers of a message that asked for a new ticket."""
    return Opening(sender=mail.from_addr.lower(), until=now + settings.flood_window,
                   text_key=duplicate_key(mail, settings.duplicate_match),
                   text_until=now + settings.duplicate_window, flood=flood)


def minutes(window: timedelta) -> str:
    return f"{window.total_seconds() / 60:g} minutes"


def flood(case: Case) -> Verdict:
    """A flood of new tickets from one address: its further mail joins one flood ticket."""
    ctx, settings, mail, found = case.ctx, case.settings, case.mail, case.found
    limit, window = settings.flood_max_new_tickets, minutes(settings.flood_window)
    if found.ticket is not None:
        return miss(f"joins {found.ticket.number}, opens no ticket")
    if limit <= 0:
        return miss("no flood limit (flood.max_new_tickets = 0)")
    if ctx.openings_by_sender < limit:
        return miss(f"{ctx.openings_by_sender} of at most {limit} new tickets from "
                    f"{mail.from_addr} within {window}")
    opening = opening_of(mail, settings, case.now)
    ticket = ctx.flood_ticket
    if ticket is not None and ticket.status != Status.CLOSED:
        events: list[Event] = []
        usage = ctx.attachment_usage.get(ticket.number, AttachmentUsage())
        files = judge_files(mail, usage, settings, events)
        return hit(f"{limit} new tickets from {mail.from_addr} within {window}: joins the "
                   f"flood ticket {ticket.number}, not answered", Decision(
                       Outcome.FOLLOWUP, ticket=ticket, events=tuple(events),
                       attachments=files, opening=opening))
    notes: list[TraceLine] = []
    decision = new_ticket(mail, ctx, settings, case.now, found.related, found.follows, notes,
                          assignee=found.follows_assignee)
    assert decision.new_ticket is not None
    subject = FLOOD_SUBJECT.format(sender=mail.from_addr[:SHOWN_SENDER])
    reply = decision.reply and replace(decision.reply, template="flood", cc=())
    return hit(f"{limit} new tickets from {mail.from_addr} within {window}: a flood ticket "
               "opens, and their further mail joins it", replace(
                   decision, new_ticket=replace(decision.new_ticket, subject=subject),
                   reply=reply, opening=replace(opening, flood=True)), notes=tuple(notes))
