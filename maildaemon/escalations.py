"""Escalating a ticket outside the mail pipeline: an agent's `maildaemon escalate` and,
when `[escalation] auto_on_first_response_breach` is on, the sweep's on a breached first
response.

It is the escalation a customer's mail makes (policy/escalation.py plans both): the
priority one level up within the tier's cap, the first-response target recomputed, the
ticket marked escalated, moved to the escalation queue and assigned to the escalation
manager; an `escalated` event saying who and why; the customer's confirmation; the notice
to the escalation queue's team, its managers and the customer's account manager. All of
it in the caller's transaction. An agent's escalation leaves the status as it is.
"""

from __future__ import annotations

from datetime import datetime

from maildaemon.config import Config
from maildaemon.domain import Escalation, EscalationFate, Reply, TicketRef, Tier
from maildaemon.escalation_mail import render_escalation_reply
from maildaemon.notifications import RECENT, TeamNotifications, escalation_line, moment
from maildaemon.policy.escalation import escalation_events, plan
from maildaemon.policy.followup import echoed_subject
from maildaemon.policy.mailbox import is_mailbox
from maildaemon.render import Renderer
from maildaemon.store import TicketCommands, TicketRecord, iso
from maildaemon.worker import policy_settings

AUTO_BY = "the sweep"
AUTO_REASON = "escalated automatically: first response overdue"


class Escalator:
    def __init__(self, config: Config, store: TicketCommands, renderer: Renderer) -> None:
        self.config = config
        self.store = store
        self.renderer = renderer
        self.settings = policy_settings(config)
        self.notifications = TeamNotifications(config, renderer, store)

    def escalate(self, number: str, by: str, reason: str,
                 now: datetime) -> Escalation | None:
        """Escalate the ticket `number` (None: there is none). Escalated before: nothing
        changes but an `escalation_repeated` event."""
        ref = self.store.ticket_ref(number.upper())
        row = self.store.ticket(number)
        if ref is None or row is None:
            return None
        entry = self.store.customer(ref.requester)
        tier = entry.tier if entry else Tier.FREE
        esc = plan(ref, tier, entry.account_manager if entry else None, by, reason,
                   self.settings, now, reopen=False)
        stamp = iso(now)
        for event in escalation_events(esc, ref.status):
            self.store.add_event(row.id, stamp, event.type, event.detail)
        if esc.fate != EscalationFate.ESCALATED:
            return esc
        self.store.escalate(row.id, esc)
        self._confirm(row, esc, now)
        self._notify(ref, row, esc, tier, now)
        return esc

    def on_first_response_breach(self, ticket_id: int, now: datetime) -> Escalation | None:
        """What the sweep calls for a ticket whose first-response target passed, inside
        the transaction that records the breach: escalated when the configuration says
        so and it was not before; None otherwise (nothing written)."""
        if not self.config.escalation.auto_on_first_response_breach:
            return None
        row = self.store.ticket_by_id(ticket_id)
        ref = self.store.ticket_ref(row.number) if row else None
        if row is None or ref is None or ref.escalated:
            return None
        return self.escalate(row.number, AUTO_BY, AUTO_REASON, now)

    def _confirm(self, row: TicketRecord, esc: Escalation, now: datetime) -> None:
        """The customer is told the new priority and response target."""
        if not is_mailbox(row.requester):
            return
        reply = Reply("escalation_confirmed", row.requester, esc.queue or row.queue,
                      auto_submitted="auto-generated")
        out = render_escalation_reply(
            self.renderer, self.config, self.settings, esc, reply, number=row.number,
            ticket_subject=row.subject, now=now,
            in_reply_to=self.store.last_received_message_id(row.id))
        self.store.enqueue(row.id, out, iso(now))

    def _notify(self, ref: TicketRef, row: TicketRecord, esc: Escalation, tier: Tier,
                now: datetime) -> None:
        """The escalation queue's team, its managers and the account manager: the
        notification a customer's escalation sends, without a message of theirs."""
        queue = esc.queue or row.queue
        people = {p.lower() for p in (*self.store.participants_of(row.id), row.requester)}
        team = [a for a in self.notifications.audience(queue, ("escalated",), esc)
                if a.lower() not in people]
        if not team:
            return
        brief = self.store.ticket_brief(row.number, RECENT)
        values: dict[str, object] = {
            "customer": row.requester, "customer_text": "", "priority": str(esc.priority),
            "status": str(ref.status), "due": moment(esc.first_response_due),
            "tier": str(tier), "about": echoed_subject(row.subject),
            "escalation": escalation_line(esc), "attached": [], "listed": [],
            "refused": [], "unverified": "",  # an agent's or the sweep's: no mail judged
            "recent": [{"sender": m.sender, "at": moment(m.at), "text": m.text}
                       for m in (brief.recent if brief else ())]}
        for out in self.notifications.mail_to(team, row.number, queue, row.subject,
                                              ("escalated",), values, [], now):
            self.store.enqueue(row.id, out, iso(now))
