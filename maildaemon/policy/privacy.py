"""What a message that held sensitive data leads to, once the table has decided its fate.

masking.py took the data out before anything saw the message (`InboundMail.removed`: the
kinds and places, never the values). Whatever the table decided, this adds:

- the trace line `sensitive_data_removed` (kept: the ticket's event of that type, and the
  worker's log line), naming the kinds and where they were, and that the message is kept
  with them masked;
- one notice to the sender (template `sensitive_data`, its own mail besides the
  acknowledgement), when a customer wrote it now: a new ticket or a follow-up of a
  participant, found in the subject, the own words or a file. A reply that only quotes
  what was masked before (their mail client keeps the original) tells nobody again.
  Automatic mail, agents' and staff's mail and mail kept off the tickets get no notice
  (staff are internal: the event is their notice); the notice
  counts against `autoreply.max_per_hour` like every answer, and is never sent to a
  string that is no address.

It runs after the table, as the resumed SLA clock does (slaclock.py), because it adds to
any outcome instead of choosing one; a message with nothing removed costs one comparison.
"""

from __future__ import annotations

from dataclasses import replace

from maildaemon.domain import (
    Context,
    Decision,
    InboundMail,
    Outcome,
    PolicySettings,
    Reply,
    TraceLine,
)
from maildaemon.policy.followup import is_staff
from maildaemon.policy.loops import may_autoreply
from maildaemon.policy.mailbox import is_mailbox
from maildaemon.policy.sensitive import CARD, KINDS, PASSWORD, SSN, names
from maildaemon.policy.steps import note

STEP = "sensitive_data_removed"
TEMPLATE = "sensitive_data"
TOLD = {Outcome.NEW_TICKET, Outcome.FOLLOWUP}  # a customer's mail on a ticket
PLACES_LISTED = 5
# What the notice says was removed: kinds only, never a value, never a file's name.
CUSTOMER_WORDS = {CARD: "a payment card number", SSN: "a social security number",
                  PASSWORD: "a password or PIN"}


def listed(words: list[str] | tuple[str, ...]) -> str:
    """"a", "a and b", "a, b and c"."""
    if len(words) < 2:
        return "".join(words)
    return f"{', '.join(words[:-1])} and {words[-1]}"


def removed_words(kinds: tuple[str, ...]) -> str:
    return listed([CUSTOMER_WORDS[kind] for kind in KINDS if kind in kinds])


def where(places: tuple[str, ...]) -> str:
    shown = list(places[:PLACES_LISTED])
    if len(places) > PLACES_LISTED:
        shown.append(f"{len(places) - PLACES_LISTED} more files")
    return listed(shown)


def with_privacy_notice(decision: Decision, mail: InboundMail, ctx: Context,
                        settings: PolicySettings) -> Decision:
    removed = mail.removed
    if removed is None or decision.outcome == Outcome.DUPLICATE:
        return decision  # the common case: no copy
    detail = (f"{listed(names(removed.kinds))} removed from {where(removed.places)}; "
              "the message is kept with them masked")
    notes: list[TraceLine] = []
    notice = _notice(decision, mail, ctx, settings, notes)
    if notice is not None:
        detail += f"; {mail.from_addr} is told"
    elif not removed.own_words:
        detail += "; only in the history it quotes: nobody told again"
    line = TraceLine(STEP, True, detail, kept=True)
    return replace(decision, more_mail=(*decision.more_mail, *([notice] if notice else [])),
                   trace_lines=(*decision.trace_lines, line, *notes))


def _notice(decision: Decision, mail: InboundMail, ctx: Context, settings: PolicySettings,
            notes: list[TraceLine]) -> Reply | None:
    removed = mail.removed
    ticket = decision.ticket or decision.new_ticket
    if removed is None or not removed.own_words or not settings.privacy_notice or \
            decision.outcome not in TOLD or ticket is None or not is_mailbox(mail.from_addr):
        return None
    if decision.agent is not None or is_staff(mail.from_addr, settings):
        return None  # an agent's or staff member's mail: internal, masked, not told
    sender = mail.from_addr.lower()
    answered = sum(1 for r in (decision.reply, *decision.more_mail)
                   if r is not None and r.to.lower() == sender)
    if not may_autoreply(ctx.recent_autoreplies_to_sender + answered, settings):
        notes.append(note("rate_limit", f"{ctx.recent_autoreplies_to_sender + answered} "
                                        f"automatic answers to {mail.from_addr} in the last "
                                        "hour, no notice of the data removed"))
        return None
    return Reply(template=TEMPLATE, to=mail.from_addr, queue=ticket.queue)
