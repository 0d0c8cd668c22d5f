"""Agents' mail to a ticket's reply address: an answer, a comment, or a refusal.

A team notification's Reply-To is `queue+HS-123456-<tag>@domain` (and the comment address
is the same with `-comment`): the tag is an HMAC over the ticket and the agent's address
(replyaddress.py), so mail there is the agent's only when the tag was made for its From
address. Then its own text (agenttext.py: the quoted notification, its head and the
signature cut; the command lines taken off)
goes to the requester as `maildaemon reply` would send it, or becomes an internal note;
the command lines are applied as the CLI would (agentcommands.py) and confirmed to the
agent. Otherwise nothing is applied: the sender gets a short refusal that names nothing
of the ticket, and the team an alert.

Automatic mail to a reply address (an agent's out-of-office answering a notification)
changes nothing: the "automated" step caught its headers, and a subject that starts as
auto-replies do (AUTOREPLY_SUBJECTS) counts as automatic here even without them.
"""

from __future__ import annotations

from dataclasses import replace

from maildaemon.domain import (
    AgentAddress,
    AttachmentUsage,
    Decision,
    Escalation,
    EscalationFate,
    Event,
    InboundMail,
    Outcome,
    PolicySettings,
    Reply,
    Status,
    TicketRef,
    TraceLine,
)
from maildaemon.policy.agentcommands import (
    CUSTOMER_EVENTS,
    Effects,
    run_commands,
    split_commands,
)
from maildaemon.policy.agenttext import agent_text, without_reply_addresses
from maildaemon.policy.decisions import judge_files, mailable, reply_or_limit, survey_for
from maildaemon.policy.escalating import agent_escalation, escalate_result
from maildaemon.policy.escalation import escalation_events
from maildaemon.policy.lifecycle import TicketClock, Timers, next_due
from maildaemon.policy.ownwords import own_words
from maildaemon.policy.recipients import reply_recipients
from maildaemon.policy.steps import Case, Verdict, hit, miss

# Subjects of out-of-office answers from clients that set no Auto-Submitted header
# (Outlook, Exchange, Apple Mail, Gmail's vacation reply in several languages).
AUTOREPLY_SUBJECTS = ("automatic reply:", "out of office", "autosvar", "abwesenheitsnotiz",
                      "réponse automatique", "respuesta automática", "auto reply:",
                      "autoreply:", "auto-reply:")
NOT_TO_A_REPLY_ADDRESS = miss("sent to no reply address of a ticket")


def is_autoreply_subject(subject: str) -> bool:
    return subject.strip().lower().startswith(AUTOREPLY_SUBJECTS)


def agent_mail(case: Case) -> Verdict:
    """Mail to a per-ticket reply address: the agent's, or refused."""
    address, mail = case.ctx.agent_address, case.mail
    if address is None:
        return NOT_TO_A_REPLY_ADDRESS
    if case.found.automated is not None:
        return miss(f"automatic mail to a reply address of {address.number}: nothing applied")
    if is_autoreply_subject(mail.subject):
        return hit(f"an auto-reply's subject, sent to a reply address of {address.number}",
                   found=case.found._replace(automated="autoreply_subject"))
    sender = mail.from_addr.lower()
    ticket = address.ticket
    if ticket is None or address.made_for is None or address.made_for != sender:
        notes: list[TraceLine] = []
        why = _refusal_reason(address, sender)
        return hit(f"{sender or '<>'} refused: {why}", refused(case, address, why, notes),
                   notes=tuple(notes))
    kind = "comment address" if address.comment else "reply address"
    notes = []
    decision = agent_decision(case, ticket, address.comment, notes)
    return hit(f"{sender} writes to {ticket.number}'s {kind}", decision, notes=tuple(notes))


def _refusal_reason(address: AgentAddress, sender: str) -> str:
    if address.ticket is None:
        return f"no ticket {address.number}"
    if address.made_for is None:
        return "the tag verifies for no team address"
    return f"the tag was made for {address.made_for}, not {sender}"


def refused(case: Case, address: AgentAddress, why: str, notes: list[TraceLine]) -> Decision:
    """Nothing applied; the sender is told so in a few words, the team is alerted."""
    mail, ticket = case.mail, address.ticket
    kind = "comment" if address.comment else "reply"
    events = (Event("agent_refused", f"{mail.from_addr or '<>'} wrote to a {kind} address "
                                     f"of {address.number}: {why}"),)
    reply = None
    if ticket is not None:  # a refusal is threaded on the ticket; none when there is none
        reply = reply_or_limit(mail, case.ctx, case.settings, "agent_refused", ticket.queue,
                               notes)
    return Decision(Outcome.AGENT_REFUSED, ticket=ticket, reply=reply,
                    events=events if ticket is not None else (), notify=("refused_tag",))


def agent_decision(case: Case, ticket: TicketRef, comment: bool,
                   notes: list[TraceLine]) -> Decision:
    """The agent's answer or comment, its commands applied as the CLI would."""
    mail, settings = case.mail, case.settings
    agent = mail.from_addr.lower()
    # Own words only: the quoted lines an inline answer carries are the customer's or the
    # notification's, never relayed (ownwords.py); then the notification marker's cut.
    lines, text = split_commands(agent_text(own_words(mail.own_text)))
    local = next((k for k, q in settings.queues.items() if q == ticket.queue), ticket.queue)
    text = without_reply_addresses(text, f"{local}@{settings.domain}")
    internal = comment or is_note_only(lines)
    answer = bool(text) and not internal
    start = ticket.status
    implied = _implied_status(ticket.status) if answer else None
    effects = run_commands(lines, ticket, agent, implied or start)
    if implied is not None:
        effects.changes.insert(0, (start, implied))
    esc = agent_escalation(case, ticket, agent, text if internal else "", replace(
        ticket, priority=effects.priority or ticket.priority)) if effects.escalate else None
    if esc is not None:
        effects.results = escalate_result(effects.results, esc)
    events = _events(agent, ticket, text, internal, effects, esc)
    files = judge_files(mail, case.ctx.attachment_usage.get(ticket.number, AttachmentUsage()),
                        settings, events)
    final = effects.status
    due = next_due(TicketClock(final, case.now, False, False),
                   Timers(remind_days=settings.remind_days,
                          resolved_days=settings.resolved_days))
    mails = _mail_for(mail, ticket, agent, answer, internal, lines, effects, settings, notes)
    done = esc is not None and esc.fate == EscalationFate.ESCALATED
    if done and esc is not None and mailable(ticket.requester, notes):  # the customer too
        mails.insert(0, Reply("escalation_confirmed", ticket.requester, esc.queue or
                              ticket.queue, auto_submitted="auto-generated"))
    decision = Decision(
        Outcome.AGENT_COMMENT if internal else Outcome.AGENT_ANSWER, ticket=ticket,
        new_status=final if final != start else None,
        due_at=due if final != start else None,
        events=tuple(events), attachments=files, agent=agent,
        agent_text=text if answer else "", note=text if internal else "",
        commands=tuple(effects.results),
        new_priority=esc.priority if done and esc else effects.priority,
        assignee=effects.assignee or (esc.assignee if done and esc else None),
        notify=("escalated",) if done else (), escalation=esc)
    return replace(decision, reply=mails[0] if mails else None, more_mail=tuple(mails[1:]))


def is_note_only(lines: tuple[str, ...]) -> bool:
    """Is the mail a note (a #note-only line among its commands)? Read before the others,
    because a note does not move a new ticket to open as an answer does."""
    return any(line.lower().replace("_", "-") == "#note-only" for line in lines)


def _implied_status(status: Status) -> Status | None:
    """An answer to the customer opens a new ticket (as `maildaemon reply` does) and
    reopens a closed one (the lifecycle table: reopened by the agent)."""
    return Status.OPEN if status in (Status.NEW, Status.CLOSED) else None


def _events(agent: str, ticket: TicketRef, text: str, internal: bool,
            effects: Effects, esc: Escalation | None) -> list[Event]:
    events: list[Event] = []
    if not text and not internal and not effects.results:  # only quote: nothing relayed
        events.append(Event("agent_reply_empty", f"by {agent}, by email: no text of their "
                                                 "own, nothing sent to the customer"))
    if text:
        events.append(Event("note", f"by {agent}, by email: {text}") if internal
                      else Event("agent_reply", f"by {agent}, by email"))
    for old, new in effects.changes:
        events.append(Event("status", f"{old} -> {new} by {agent}'s mail"))
    if effects.assignee is not None:
        events.append(Event("assigned", f"{ticket.assignee or 'nobody'} -> {effects.assignee}"
                                        f" by {agent}'s mail"))
    if effects.priority is not None:
        events.append(Event("priority", f"{ticket.priority or '?'} -> {effects.priority} "
                                        f"by {agent}'s mail"))
    if esc is not None:  # policy/escalation.py: who, why, what changed
        events += escalation_events(esc, ticket.status)
    for result in effects.results:
        if not result.applied:
            events.append(Event("command_refused", f"{result.line}: {result.detail}"))
    return events


def _mail_for(mail: InboundMail, ticket: TicketRef, agent: str, answer: bool,
              internal: bool, lines: tuple[str, ...], effects: Effects,
              settings: PolicySettings, notes: list[TraceLine]) -> list[Reply]:
    """The answer to the customer (or, for commands alone, the status mail `maildaemon
    status` sends), the survey when it closes, and the agent's confirmation. A comment
    mails no customer anything."""
    out: list[Reply] = []
    if answer:
        people = reply_recipients(ticket.requester, sorted(ticket.participants),
                                  settings.max_participants)
        out.append(Reply("agent_reply", people.to, ticket.queue, cc=people.cc))
    elif not internal and effects.changes:
        old, new = effects.changes[0][0], effects.status
        event = "reopened" if old in (Status.RESOLVED, Status.CLOSED) and \
            new == Status.OPEN else str(new)
        if event in CUSTOMER_EVENTS:
            out.append(Reply(f"status_{event}", ticket.requester, ticket.queue,
                             auto_submitted="auto-generated"))
    if not internal and effects.status == Status.CLOSED and ticket.status != Status.CLOSED:
        out.append(survey_for(ticket))
    out = [r for r in out if mailable(r.to, notes)]
    if lines and mailable(agent, notes):
        out.append(Reply("agent_confirmation", agent, ticket.queue))
    elif not answer and not internal and not lines and mailable(agent, notes):
        out.append(Reply("agent_empty", agent, ticket.queue))  # only quote: they are told
    return out
