"""Team notifications: the people of a queue hear of its tickets by mail.

A decision's `notify` kinds (policy/decisions.py: "new_ticket", "customer_reply",
"reopened"; the agents' steps add "refused_tag", the escalations "escalated") become one
mail per address of the ticket's team (`config.team_of(queue)`; an escalation also tells
the escalation queue's managers and the customer's account manager), rendered with the
rest of the message's mail before the worker's write lock. One mail per address, because
each carries its own `Reply-To`: a per-ticket reply address whose tag is made for that
address alone (policy/replyaddress.py), so an answer proves which agent wrote it.

What a notification carries is this ticket's only: the message it is about, the ticket's
state and its last messages in short, the message's accepted files. A team address that is
a participant of the ticket is skipped (a customer never receives a notification), and
automatic mail never has `notify` set, so nothing here answers a machine.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Protocol

from maildaemon.config import Config
from maildaemon.domain import (
    AttachmentVerdict,
    Decision,
    Escalation,
    EscalationFate,
    InboundMail,
    OutgoingMail,
    Status,
)
from maildaemon.policy.addresses import bounded_list, shorten
from maildaemon.policy.escalation import escalation_events
from maildaemon.policy.followup import echoed_subject
from maildaemon.policy.replyaddress import reply_address
from maildaemon.render import Renderer
from maildaemon.store import parse_iso
from maildaemon.store.records import TicketBrief

KIND_WORDS = {"new_ticket": "New ticket", "customer_reply": "Customer reply",
              "reopened": "Reopened", "escalated": "Escalated",
              "refused_tag": "Refused reply address"}
TEXT_LIMIT = 20_000  # characters of the customer's text in one notification
RECENT = 3  # earlier messages recalled
NAME_LIMIT = 100  # characters of a file's name (the customer chose it)
LISTED = 20  # files named, attached or not; then "and 3 more"


class BriefSource(Protocol):
    def ticket_brief(self, number: str, last: int) -> TicketBrief | None: ...


def kinds_words(kinds: Iterable[str]) -> str:
    return ", ".join(KIND_WORDS.get(kind, kind.replace("_", " ")) for kind in kinds)


def bounded_text(text: str, limit: int = TEXT_LIMIT) -> str:
    return text if len(text) <= limit else text[:limit].rstrip() + "\n[cut]"


def moment(value: datetime | str | None) -> str:
    """A due time as agents read it: minutes, UTC."""
    when = parse_iso(value) if isinstance(value, str) else value
    return "none" if when is None else when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def escalation_line(esc: Escalation | None) -> str:
    """What an escalation did, for the people told of it; "" for any other notice."""
    if esc is None or esc.fate != EscalationFate.ESCALATED:
        return ""
    due = f"; first response due {moment(esc.first_response_due)}" \
        if esc.first_response_due else ""
    return escalation_events(esc, Status.OPEN)[0].detail + due


def file_name(verdict: AttachmentVerdict, n: int) -> str:
    """The customer's name for a file, on one line: it goes into a MIME header."""
    name = "".join(ch if ch.isprintable() else " " for ch in verdict.candidate.filename)
    return shorten(" ".join(name.split()), NAME_LIMIT) or f"attachment-{n}"


class TeamNotifications:
    """Renders a decision's notifications; the store is read for the ticket in short."""

    def __init__(self, config: Config, renderer: Renderer, store: BriefSource) -> None:
        self.config = config
        self.renderer = renderer
        self.store = store

    def render(self, decision: Decision, mail: InboundMail, now: datetime,
               number: str) -> tuple[OutgoingMail, ...]:
        ticket, new = decision.ticket, decision.new_ticket
        if not decision.notify or (ticket is None and new is None):
            return ()
        if ticket is not None:
            queue, subject = ticket.queue, ticket.subject
            people = {*ticket.participants, ticket.requester}
        else:
            assert new is not None
            queue, subject, people = new.queue, new.subject, set(new.participants)
        esc = decision.escalation
        if esc is not None and esc.fate == EscalationFate.ESCALATED and esc.queue:
            queue = esc.queue  # it moved: the escalation queue's people hear of it
        people = {p.lower() for p in (*people, mail.from_addr)}
        team = [a for a in self.audience(queue, decision.notify, esc)
                if a.lower() not in people]
        if not team:
            return ()
        brief = self.store.ticket_brief(number, RECENT) if ticket is not None else None
        values = self._facts(decision, mail, brief)
        files, attached, listed = self._files(decision, number, brief)
        values.update(attached=attached, listed=listed,
                      refused=bounded_list(list(decision.refused_words), LISTED))
        return self.mail_to(team, number, queue, subject, decision.notify, values, files,
                            now)

    def audience(self, queue: str, kinds: tuple[str, ...],
                 esc: Escalation | None) -> list[str]:
        """The queue's team; for an escalation also the team it left, the escalation
        queue's managers and the customer's account manager (internal all), each once."""
        team = list(self.config.team_of(queue))
        if esc is not None and "escalated" in kinds:
            team += [*(self.config.team_of(esc.old_queue) if esc.old_queue else ()),
                     *self.config.managers_of(queue),
                     *([esc.account_manager.lower()] if esc.account_manager else [])]
        return list(dict.fromkeys(team))

    def mail_to(self, team: list[str], number: str, queue: str, subject: str,
                notify: tuple[str, ...], values: dict[str, Any],
                files: list[tuple[str, str, bytes]], now: datetime
                ) -> tuple[OutgoingMail, ...]:
        """One notification per address, each with its own reply address."""
        kinds = kinds_words(notify)
        local = self.config.queue_address(queue).partition("@")[0]
        domain, secret = self.renderer.domain, self.renderer.secret
        out = []
        for address in team:
            answer = reply_address(secret, local, domain, number, address)
            out.append(self.renderer.render(
                "team_notification", number=number, queue=queue,
                queue_address=self.config.queue_address(queue), to=address,
                ticket_subject=f"{kinds}: {echoed_subject(subject)}", now=now,
                in_reply_to=None, auto_submitted="auto-generated",
                variables={**values, "kinds": kinds, "reply_address": answer,
                           "comment_address": reply_address(secret, local, domain, number,
                                                            address, comment=True)},
                files=files, reply_to=answer, kind=f"notify_{notify[0]}"))
        return tuple(out)

    def _facts(self, decision: Decision, mail: InboundMail,
               brief: TicketBrief | None) -> dict[str, Any]:
        """The ticket's state as it will be once this message is applied."""
        new, ticket = decision.new_ticket, decision.ticket
        if new is not None:
            priority, status, due = str(new.priority), "new", moment(new.first_response_due)
        else:
            status = str(decision.new_status or (ticket.status if ticket else ""))
            priority = str(decision.new_priority or (brief.priority if brief else ""))
            due = "none"
            if brief is not None:
                due = moment(brief.first_response_due if status == "new" else brief.due_at)
            esc = decision.escalation
            if esc is not None and esc.fate == EscalationFate.ESCALATED and status == "new":
                due = moment(esc.first_response_due)  # recomputed by the escalation
        sender = shorten(mail.from_name, NAME_LIMIT)
        return {
            "customer": f"{sender} <{mail.from_addr}>" if sender else mail.from_addr,
            "customer_text": bounded_text(mail.own_text or mail.text),
            "priority": priority, "status": status, "due": due,
            # The tier the ticket opened with (the customer directory's, else free).
            "tier": str(new.tier if new is not None else ticket.tier if ticket else "free"),
            "about": echoed_subject((ticket or new or mail).subject),
            "escalation": escalation_line(decision.escalation),
            # Why its From is not proven (policy/authenticity.py); "" when it is.
            "unverified": new.unverified if new is not None else "",
            "recent": [{"sender": m.sender, "at": moment(m.at), "text": m.text}
                       for m in (brief.recent if brief else ())],
        }

    def _files(self, decision: Decision, number: str, brief: TicketBrief | None
               ) -> tuple[list[tuple[str, str, bytes]], list[str], list[str]]:
        """The message's stored files: attached while they fit in `max_attached_bytes` in
        all, the others named with the command that saves them. N counts the ticket's
        files as `show` lists them, this message's after those stored before."""
        budget = self.config.notifications.max_attached_bytes
        stored = brief.files_stored if brief else 0
        files: list[tuple[str, str, bytes]] = []
        attached: list[str] = []
        listed: list[str] = []
        kept = [v for v in decision.attachments if v.reason == "accepted"]
        for i, verdict in enumerate(kept, start=stored + 1):
            name, data = file_name(verdict, i), verdict.candidate.data
            if len(data) == verdict.candidate.size and len(data) <= budget \
                    and len(files) < LISTED:
                budget -= len(data)
                files.append((name, verdict.candidate.detected_type, data))
                attached.append(name)
            else:
                listed.append(f"{name}: maildaemon attachment {number} {i} --output .")
        return files, attached, bounded_list(listed, LISTED)
