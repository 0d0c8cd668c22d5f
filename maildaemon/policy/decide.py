"""The ordered steps that decide one message's fate, and the trace of why.

`STEPS` below is the order: each row is a name, a line for people and a pure function of
the message, its context, the settings and the time (steps.py). The steps are asked in
order until one decides; every answer, hit or miss, goes into the decision's trace, and the
hits (with the rules that fired inside a step: `sender_not_participant`, `staff_unverified`,
`unverified_not_joined`, `rate_limit`, `daily_limit`, `ack_limit`, `undeliverable`) are
stored as the ticket's events. `maildaemon decide FILE.eml` prints the whole trace for one
message.

Adding a rule is one function (returning `hit(...)` or `miss(...)`) and one row here.
After the table: a status change that ends a wait moves the resolution due time
(slaclock.py), and a message masking.py took sensitive data out of gets its
`sensitive_data_removed` line and the sender's notice (privacy.py), whatever its fate.
Automatic mail keeps no attachments: a bounce's copy of our own message is not a file.
Nothing is ever sent to a string that is not a mailable address (undeliverable: ...).
"""

from __future__ import annotations

from datetime import datetime

from maildaemon.domain import Context, Decision, InboundMail, PolicySettings
from maildaemon.policy.agentmail import agent_mail
from maildaemon.policy.authenticity import sender_unverified
from maildaemon.policy.bounces import bounce, with_delivery_restored
from maildaemon.policy.duplicates import near_duplicate
from maildaemon.policy.escalating import escalation_by_address, escalation_phrase
from maildaemon.policy.finding import (
    automated,
    duplicate,
    header_thread,
    staff_verified,
    token_from_subject,
)
from maildaemon.policy.limits import flood
from maildaemon.policy.outcomes import (
    automatic_mail,
    confirmation,
    customer_reply,
    new_ticket_step,
    reopen_window,
    staff_reply_step,
    survey_reply,
)
from maildaemon.policy.privacy import with_privacy_notice
from maildaemon.policy.slaclock import with_resumed_clock
from maildaemon.policy.steps import Step, run_steps

STEPS: tuple[Step, ...] = (
    Step("duplicate", "Message-ID or content seen before: nothing stored, nothing sent",
         duplicate),
    Step("automated", "RFC 3834 and friends (loops.py): never answered", automated),
    Step("agent_mail", "to a ticket's reply address: the agent's answer or comment if the "
         "tag was made for the sender, else refused (agentmail.py)", agent_mail),
    Step("staff_verified", "a staff From address proven by our MTA's DMARC pass; unproven "
         "staff is a stranger", staff_verified),
    Step("sender_unverified", "our MTA does not vouch for the From domain (DMARC, aligned "
         "DKIM or SPF): joins, reopens, escalates, confirms nothing (authenticity.py)",
         sender_unverified),
    Step("escalation_by_address", "to the escalation address, naming a ticket: escalated "
         "for a participant, else the one refusal (escalating.py)", escalation_by_address),
    Step("header_thread", "In-Reply-To/References name a ticket the sender takes part in",
         header_thread),
    Step("token_from_subject", "an HS-dddddd token in the subject, of a ticket the sender "
         "takes part in", token_from_subject),
    Step("bounce_link", "a bounce of our mail: kept on its ticket, a `bounce` event per failed "
         "address, 5.x.x marks it undeliverable (bounces.py)", bounce),
    Step("automatic_mail", "automatic mail is kept (on the ticket it joined), not answered",
         automatic_mail, kept=False),
    Step("survey_reply", "a rating 1-5 answering our survey: stored, no reopen",
         survey_reply),
    Step("escalation_phrase", "a participant's own words ask to escalate the ticket it "
         "joins (\"escalate this\")", escalation_phrase),
    Step("reopen_window", "a closed ticket reopens within reopen_days, else a new linked "
         "ticket", reopen_window),
    Step("staff_reply", "proven staff answering in a thread: sent on to the requester",
         staff_reply_step),
    Step("confirmation", "a resolved ticket's customer says \"solved\": closed, survey sent",
         confirmation),
    Step("customer_reply", "a participant's follow-up; waiting and resolved tickets reopen",
         customer_reply, kept=False),
    Step("near_duplicate", "the same sender, subject and own text as a message that opened "
         "a ticket within the window: added to it as a duplicate (duplicates.py)",
         near_duplicate, kept=False),
    Step("flood", "a flood of new tickets from the sender: their mail joins one flood "
         "ticket, answered at most once (limits.py)", flood),
    Step("new_ticket", "nothing above decided: a new ticket, acknowledged (rate_limit, at "
         "most max_participants people)", new_ticket_step),
)


def decide(
    mail: InboundMail, ctx: Context, settings: PolicySettings, now: datetime,
    steps: tuple[Step, ...] = STEPS,
) -> Decision:
    """Run `steps` (the table above unless a test or tool passes its own copy); a status
    change that ends a wait on the customer moves the resolution due time (slaclock.py);
    sensitive data taken out of the message is recorded and its sender told (privacy.py)."""
    decision = with_resumed_clock(run_steps(steps, mail, ctx, settings, now), settings, now)
    decision = with_delivery_restored(decision, mail, ctx)  # a marked address writes again
    return with_privacy_notice(decision, mail, ctx, settings)
