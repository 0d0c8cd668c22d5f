"""The same issue sent twice: issue 13, point 4.

A customer who writes the same text to support@ and to tech@ (two messages, two
Message-IDs, minutes apart) asks one thing. The second message is not a second ticket: it
is added to the first as a `duplicate` (an event), the customer gets no second
acknowledgement but a short confirmation that it went to the ticket they already have
(`duplicate_received`, at most one an hour per ticket), and the team is not told again.

Near-identical (`[duplicates] match`):
- `"subject_and_text"` (the default): the same sender, the same subject once reply and
  forward prefixes ("Re:", "Fwd:", "AW:" ...), case and spacing are set aside, and the
  same own text (the reply model's: no quoted history) apart from case and spacing;
- `"text"`: the same sender and own text, whatever the subject;
- `"off"`: only exact duplicates (the `duplicate` step: the same Message-ID and body).
Only a message that would open a ticket is compared, with the message that opened a ticket
within `[duplicates] window_minutes` (24 hours by default). A closed ticket takes no
duplicate: the same text after closing opens a new ticket, linked to the closed one.

Exact duplicates are the `duplicate` step's (finding.py): the same Message-ID and body,
or, for mail without a Message-ID, the same sender, subject and body within the same
window; those are stored once and change nothing.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from maildaemon.domain import (
    AttachmentUsage,
    Context,
    Decision,
    Event,
    InboundMail,
    Outcome,
    PolicySettings,
    Status,
    TicketRef,
    TraceLine,
)
from maildaemon.policy.decisions import has_team, judge_files, reply_or_limit
from maildaemon.policy.followup import is_participant, strip_reply_prefixes
from maildaemon.policy.routing import is_own_address
from maildaemon.policy.steps import Case, Verdict, hit, miss, note

MATCHES = ("subject_and_text", "text", "off")
SUBJECT_READ = 1000  # characters of a subject compared (the ticket row keeps as many)
REOPENED = {Status.WAITING, Status.RESOLVED}  # as any message of the customer reopens
NOTICE_INTERVAL = timedelta(hours=1)  # one duplicate notice per ticket within this
NO_EARLIER = miss("no ticket opened by the same sender, subject and text within the "
                  "duplicate window")


def normal_subject(subject: str) -> str:
    """The subject without reply and forward prefixes, in one case, spaces collapsed."""
    return " ".join(strip_reply_prefixes(subject[:SUBJECT_READ]).split()).casefold()


def duplicate_key(mail: InboundMail, match: str) -> str | None:
    """The key two near-identical messages share; None when the rule is off or the
    message has no sender to compare."""
    if match == "off" or not mail.from_addr:
        return None
    subject = "" if match == "text" else normal_subject(mail.subject)
    text = " ".join(mail.own_text.split()).casefold()
    joined = "\x00".join((mail.from_addr.lower(), subject, text))
    return f"{match}:" + hashlib.sha256(joined.encode("utf-8", "surrogatepass")).hexdigest()


def near_duplicate(case: Case) -> Verdict:
    """A message that would open a ticket, with the same text as one that opened a ticket
    within the window: added to that ticket."""
    earlier, found, mail = case.ctx.same_text_ticket, case.found, case.mail
    if found.ticket is not None:
        return miss(f"joins {found.ticket.number} already")
    if found.unverified:
        return miss(f"unverified sender ({found.unverified}): joins no ticket as a duplicate")
    if earlier is None:
        return NO_EARLIER
    if earlier.status == Status.CLOSED:
        related = found.related if earlier.number in found.related \
            else (*found.related, earlier.number)
        return miss(f"the same text opened {earlier.number}, which is closed: a new ticket "
                    "linked to it", found=found._replace(related=related))
    if not is_participant(mail.from_addr, earlier, found.staff):
        return miss(f"{mail.from_addr} does not take part in {earlier.number}")
    notes: list[TraceLine] = []
    decision = duplicate_of(mail, case.ctx, case.settings, earlier, case.now, notes)
    return hit(f"the same request as the one that opened {earlier.number}: added to it",
               decision, notes=tuple(notes))


def duplicate_of(mail: InboundMail, ctx: Context, settings: PolicySettings,
                 ticket: TicketRef, now: datetime, notes: list[TraceLine]) -> Decision:
    addressed = ", ".join(dict.fromkeys(
        a.lower() for a in (*mail.envelope_rcpts, *mail.to, *mail.cc)
        if is_own_address(a, settings))) or "us"
    events = [Event("duplicate", f"{(mail.message_id or 'a message')[:200]} from "
                                 f"{mail.from_addr} to {addressed[:300]}: the same request "
                                 f"as the one that opened {ticket.number}, added to it")]
    files = judge_files(mail, ctx.attachment_usage.get(ticket.number, AttachmentUsage()),
                        settings, events)
    new_status = Status.OPEN if ticket.status in REOPENED else None
    if new_status is not None:
        events.append(Event("status", f"{ticket.status} -> {new_status} by the customer's "
                                      "message"))
    noticed = ticket.duplicate_noticed_at
    if noticed is not None and now - noticed < NOTICE_INTERVAL:
        notes.append(note("ack_limit", f"{ticket.number} confirmed a duplicate less than an "
                                       "hour ago: this one is stored, not confirmed"))
        reply = None
    else:
        reply = reply_or_limit(mail, ctx, settings, "duplicate_received", ticket.queue, notes)
    reopened = new_status is not None and ticket.status == Status.RESOLVED
    return Decision(Outcome.FOLLOWUP, ticket=ticket, new_status=new_status, reply=reply,
                    events=tuple(events), attachments=files,
                    notify=("reopened",) if reopened and has_team(ticket.queue, settings)
                    else ())
