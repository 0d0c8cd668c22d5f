"""Proactive status updates for premium and enterprise tickets: a stage of the sweep.

policy/premium.py says who gets them and when; this finds the tickets whose
`next_update_at` is due (an indexed column, m023), and for each, in one transaction, works
out from its facts whether an update is due now (no agent answer and no update for
`[premium] update_interval` business days while the customer waits on us), queues it with
its event, and writes when to look next. The state it leaves cannot send the same update
again: running the sweep twice, or after a crash, sends nothing twice.

What the update says: the status, who has the ticket, and what comes next: the
first-response target while no agent has answered, else our next update.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime

from maildaemon.calendar_config import business_calendar
from maildaemon.config import Config
from maildaemon.domain import Status
from maildaemon.escalation_mail import when_words
from maildaemon.policy.mailbox import is_mailbox
from maildaemon.policy.premium import UpdateClock, next_update
from maildaemon.render import Renderer
from maildaemon.store import TicketCommands, TicketRecord, iso, parse_iso
from maildaemon.store.records import UpdateFacts

log = logging.getLogger("maildaemon.updates")

BATCH = 1000
SENT = "proactive_update"  # the event, the outbox kind's template and the sweep's count
STATUS_WORDS = {Status.NEW: "received; an agent will answer you soon",
                Status.OPEN: "open: we are working on it",
                Status.ON_HOLD: "on hold while we wait for an internal resource"}


class ProactiveUpdates:
    def __init__(self, config: Config, store: TicketCommands, renderer: Renderer) -> None:
        self.config = config
        self.store = store
        self.renderer = renderer
        self.calendar = business_calendar(config)
        self.interval = config.premium.update_interval

    def run(self, now: datetime) -> Counter[str]:
        """Every ticket due a look as of `now`; counts the updates sent."""
        done: Counter[str] = Counter()
        for _ in range(10_000):  # bounded: each ticket seen leaves the due ones
            ids = self.store.updates_due(now, BATCH)
            if not ids:
                break
            for ticket_id in ids:
                if self._one(ticket_id, now):
                    done[SENT] += 1
        return done

    def _one(self, ticket_id: int, now: datetime) -> bool:
        with self.store.transaction():
            self.store.hold_ticket_id(ticket_id)  # another node's sweep: before or after
            facts = self.store.update_facts(ticket_id)
            row = self.store.ticket_by_id(ticket_id)
            if facts is None or row is None or not facts.proactive:
                self.store.set_next_update(ticket_id, None)
                return False
            created = parse_iso(facts.created_at) or now
            clock = UpdateClock(Status(facts.status), facts.waiting_on_customer, created,
                                parse_iso(facts.status_since),
                                parse_iso(facts.last_agent_at),
                                parse_iso(facts.last_update_at))
            send, next_at = next_update(clock, self.interval, self.calendar, now)
            self.store.set_next_update(ticket_id, iso(next_at) if next_at else None)
            if not send or not is_mailbox(row.requester):
                return False
            self._send(row, facts, next_at, now)
            return True

    def _send(self, row: TicketRecord, facts: UpdateFacts, next_at: datetime | None,
              now: datetime) -> None:
        zone = self.calendar.zone
        first_due = parse_iso(facts.first_response_due)
        if facts.last_agent_at is None and first_due is not None:
            late = " (we are late with it: it has our attention)" if first_due < now else ""
            target = f"our first answer, due by {when_words(first_due, zone)}{late}"
        else:
            target = f"our next update by {when_words(next_at, zone)} at the latest"
        days = self.interval
        out = self.renderer.render(
            "status_update", number=row.number, queue=row.queue,
            queue_address=self.config.queue_address(row.queue), to=row.requester,
            ticket_subject=row.subject, now=now,
            in_reply_to=self.store.last_received_message_id(row.id),
            auto_submitted="auto-generated", kind=SENT,
            variables={"customer_name": "",
                       "status_words": STATUS_WORDS.get(Status(facts.status), facts.status),
                       "assignee_words": facts.assignee or "not yet assigned to a person",
                       "next_target": target,
                       "update_every": f"{days:g} business day{'' if days == 1 else 's'}"})
        stamp = iso(now)
        self.store.enqueue(row.id, out, stamp)
        self.store.add_event(row.id, stamp, SENT, f"status update to {row.requester}: "
                                                  f"no word from us for {days:g} business days")
        log.info("%s: status update sent to %s", row.number, row.requester)
