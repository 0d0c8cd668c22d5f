"""The mail a decision sends, rendered before the worker takes the write lock.

What we echo of the sender's mail is bounded, so no answer of ours is much larger than its
template: a 3 MB name or 5,000 refused files make a short mail.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from maildaemon.agentanswers import AGENT_OUTCOMES, agent_inputs, render_agent_mail
from maildaemon.config import Config
from maildaemon.domain import Decision, InboundMail, OutgoingMail, PolicySettings, Reply
from maildaemon.escalation_mail import TEMPLATES as ESCALATION_TEMPLATES
from maildaemon.escalation_mail import render_escalation_reply
from maildaemon.notifications import BriefSource, TeamNotifications
from maildaemon.policy.addresses import bounded_list, shorten
from maildaemon.policy.bugreport import ASKS, missing_fields
from maildaemon.policy.privacy import removed_words
from maildaemon.policy.sensitive import PASSWORD
from maildaemon.policy.sla import Kind, sla_of
from maildaemon.render import Renderer
from maildaemon.store import Rendered

ECHO_NAME = 100  # characters of a sender's display name in our answers
ECHO_LINE = 200  # characters of one refused file's line (its name is the sender's)
ECHO_REFUSED = 10  # refused files listed by name; then "and 4,990 more"


class NumberSource(BriefSource, Protocol):
    def number_for(self, decision: Decision) -> str | None: ...


class StoreRead:
    """Stands in `render_inputs` for what a notification on a ticket reads of the store
    (its last messages, the numbers its files will have), which no decision carries: never
    equal, so a message whose context changed under the lock (another message of the batch
    joined the same ticket) has its notifications rendered again on what is there now."""

    def __eq__(self, other: object) -> bool:
        return False

    def __hash__(self) -> int:
        return 0


def render_inputs(decision: Decision) -> tuple[object, ...]:
    """What the rendered mail of a decision depends on, besides the message and `now`.

    Two decisions equal here render the same mail, even when their traces differ (one more
    acknowledgement counted for the sender changes the trace, not the acknowledgement).
    """
    new, joins = decision.new_ticket, decision.ticket
    # The team's notifications also show the ticket's state and the message's files.
    notified = () if not decision.notify else (
        decision.notify, decision.new_status, decision.new_priority,
        None if joins is None else (joins.status, joins.queue, joins.participants),
        None if new is None else (new.queue, new.first_response_due, new.participants),
        tuple((v.candidate.sha256, v.reason) for v in decision.attachments),
        None if joins is None else StoreRead())
    return (decision.reply, decision.more_mail, decision.refused_words, decision.bug_report,
            None if new is None else (new.subject, new.priority, new.follows, new.tier,
                                      new.unverified),
            None if joins is None else (joins.number, joins.subject), notified,
            agent_inputs(decision), decision.escalation)


class Answers:
    """Renders a decision's replies under the ticket number they are about."""

    def __init__(self, config: Config, settings: PolicySettings, renderer: Renderer,
                 numbers: NumberSource) -> None:
        self.config = config
        self.settings = settings
        self.renderer = renderer
        self.store = numbers
        self.notifications = TeamNotifications(config, renderer, numbers)

    def render(self, decision: Decision, mail: InboundMail, now: datetime,
                numbers: set[str]) -> Rendered:
        """The mail the decision sends, rendered before `apply` writes anything (for a new
        ticket, under the number `number_for` drew for it, never one drawn already for
        another message of the batch)."""
        number = self.store.number_for(decision)
        for _ in range(100):
            if decision.new_ticket is None or number not in numbers:
                break
            number = self.store.number_for(decision)
        if number is not None and decision.new_ticket is not None:
            numbers.add(number)
        replies = [r for r in (decision.reply, *decision.more_mail) if r is not None]
        team = self.notifications.render(decision, mail, now, number) if number else ()
        if number is None or not (replies or team):
            return Rendered(number)
        render = self._reply_renderer(decision, mail, now)
        subject = (decision.ticket or decision.new_ticket or mail).subject
        return Rendered(number, (*(render(number, subject, reply) for reply in replies),
                                 *team))

    def _reply_renderer(
        self, decision: Decision, mail: InboundMail, now: datetime
    ) -> Callable[[str, str, Reply], OutgoingMail]:
        # What we echo of the sender's mail is bounded, so no answer of ours is much larger
        # than its template: a 3 MB name or 5,000 refused files make a short mail.
        refused = [shorten(words, ECHO_LINE) for words in decision.refused_words]
        kinds = mail.removed.kinds if mail.removed else ()  # the notice names kinds only
        variables: dict[str, object] = {"customer_name": shorten(mail.from_name, ECHO_NAME),
                                        "priority": "", "first_response": "",
                                        "refused": bounded_list(refused, ECHO_REFUSED),
                                        "bug_missing": [], "unverified": False,
                                        "removed": removed_words(kinds),
                                        "removed_password": PASSWORD in kinds}
        if decision.new_ticket is not None:
            new = decision.new_ticket  # the promise by its priority and the sender's tier
            target = sla_of(self.settings).target(Kind.FIRST_RESPONSE, new.priority, new.tier)
            variables["priority"] = str(decision.new_ticket.priority)
            variables["first_response"] = f"within {target.words()}"
            variables["follows"] = decision.new_ticket.follows or ""
            variables["bug_missing"] = bug_missing(decision)
            variables["unverified"] = bool(new.unverified)  # never why: that is for agents

        def render(number: str, ticket_subject: str, reply: Reply) -> OutgoingMail:
            if reply.template in ESCALATION_TEMPLATES and decision.escalation is not None:
                own = reply.to.lower() == mail.from_addr.lower()  # else: an agent's mail
                return render_escalation_reply(
                    self.renderer, self.config, self.settings, decision.escalation, reply,
                    number=number, ticket_subject=ticket_subject, now=now,
                    in_reply_to=mail.message_id if own else None,
                    references=mail.references if own else (),
                    customer_name=str(variables["customer_name"]) if own else "")
            if decision.outcome in AGENT_OUTCOMES:  # agents' mail to a reply address
                return render_agent_mail(self.renderer, self.config, decision, mail, now,
                                         number, ticket_subject, reply)
            values = dict(variables)
            if reply.template in ("agent_reply", "agent_empty"):  # a staff member's answer
                # Only their own words (policy/ownwords.py), never the history they quote;
                # none at all: agent_empty tells them so instead.
                values.update(customer_name="", body=decision.agent_text,
                              agent_name=shorten(mail.from_name, ECHO_NAME)
                              or mail.from_addr.split("@")[0],
                              status_line="")
            return self.renderer.render(
                reply.template,
                number=number,
                queue=reply.queue,
                queue_address=self.config.queue_address(reply.queue),
                to=reply.to,
                ticket_subject=ticket_subject,
                now=now,
                in_reply_to=mail.message_id,
                references=mail.references,
                auto_submitted=reply.auto_submitted,
                variables=values,
                cc=list(reply.cc),  # an acknowledgement: the customer's account manager
            )

        return render


def bug_missing(decision: Decision) -> list[dict[str, str]]:
    """What a new bug report's acknowledgement asks for: each required field it lacks,
    with a one-line example (policy/bugreport.py); nothing for other tickets."""
    if decision.new_ticket is None or decision.bug_report is None:
        return []
    return [{"label": ASKS[name][0], "example": ASKS[name][1]}
            for name in missing_fields(decision.bug_report)]
