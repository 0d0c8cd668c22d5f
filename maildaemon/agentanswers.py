"""The mail an agent's mail to a reply address sends (policy/agentmail.py decides it).

The answer carries only the agent's own text (no quoted notification, no command lines,
no signature) and the files they attached, from the queue's address, to the requester
with the other participants copied. The confirmation tells the agent what their command
lines did. The refusal names nothing of the ticket: it goes to whoever wrote to an address
that was not theirs.
"""

from __future__ import annotations

from datetime import datetime

from maildaemon.attachments import clean_filename
from maildaemon.config import Config
from maildaemon.domain import Decision, InboundMail, Outcome, OutgoingMail, Reply
from maildaemon.policy.addresses import bounded_list, shorten
from maildaemon.policy.agentcommands import STATUS_LINES
from maildaemon.render import Renderer
from maildaemon.sweeps import in_days

AGENT_OUTCOMES = (Outcome.AGENT_ANSWER, Outcome.AGENT_COMMENT, Outcome.AGENT_REFUSED)
ECHO_NAME = 100
ECHO_COMMANDS = 20  # command lines listed in a confirmation
REFUSED_SUBJECT = "Your message was not accepted"


def agent_inputs(decision: Decision) -> tuple[object, ...]:
    """What the mail below depends on besides the replies themselves (answers.py's
    `render_inputs`): the text, the command results, the files sent on."""
    if decision.outcome not in AGENT_OUTCOMES:
        return ()
    return (decision.agent, decision.agent_text, decision.note, decision.commands,
            decision.new_status,
            tuple((v.candidate.sha256, v.accepted) for v in decision.attachments))


def files_sent_on(decision: Decision) -> list[tuple[str, str, bytes]]:
    """The agent's accepted attachments, for the customer. Inline images (the logo of a
    signature) stay on the ticket: the agent attached the others on purpose."""
    return [(clean_filename(v.candidate.filename, "attachment"), v.candidate.detected_type,
             v.candidate.data)
            for v in decision.attachments if v.accepted and not v.candidate.inline]


def render_agent_mail(renderer: Renderer, config: Config, decision: Decision,
                      mail: InboundMail, now: datetime, number: str, ticket_subject: str,
                      reply: Reply) -> OutgoingMail:
    """One of the agent outcomes' mails: the answer, a status mail, the survey, the
    confirmation or the refusal."""
    ticket = decision.ticket
    status = decision.new_status or (ticket.status if ticket else None)
    agent_name = shorten(mail.from_name, ECHO_NAME) or mail.from_addr.split("@")[0]
    life = config.lifecycle
    values: dict[str, object] = {
        "customer_name": "", "close_in": in_days(life.resolved_days),
        "reopen_in": in_days(life.reopen_days), "agent_name": agent_name}
    files: list[tuple[str, str, bytes]] = []
    in_reply_to: str | None = None  # the agent's mail is not the customer's thread
    if reply.template == "agent_reply":
        values.update(body=decision.agent_text, status_line=STATUS_LINES.get(status, "")
                      if status else "")
        files = files_sent_on(decision)
    elif reply.template == "agent_confirmation":
        values.update(confirmation_words(decision, reply))
        in_reply_to = mail.message_id
    elif reply.template == "agent_empty":  # only quote: nothing went to the customer
        in_reply_to = mail.message_id
    elif reply.template == "agent_refused":
        ticket_subject, in_reply_to = REFUSED_SUBJECT, mail.message_id
    return renderer.render(
        reply.template, number=number, queue=reply.queue,
        queue_address=config.queue_address(reply.queue), to=reply.to,
        ticket_subject=ticket_subject, now=now, in_reply_to=in_reply_to,
        auto_submitted=reply.auto_submitted, variables=values,
        cc=list(reply.cc), files=files)


def confirmation_words(decision: Decision, reply: Reply) -> dict[str, object]:
    applied = [r.line for r in decision.commands if r.applied]
    refused = [f"{r.line}: {r.detail}" for r in decision.commands if not r.applied]
    if decision.outcome == Outcome.AGENT_COMMENT:
        fate = "Your text was kept on the ticket as an internal note; no customer receives it." \
            if decision.note else "There was no text after the commands."
    elif decision.agent_text:
        fate = "Your text was sent to the customer."
    else:
        fate = "There was no text after the commands: nothing was sent to the customer."
    return {"applied": bounded_list(applied, ECHO_COMMANDS),
            "not_applied": bounded_list(refused, ECHO_COMMANDS), "fate": fate}
