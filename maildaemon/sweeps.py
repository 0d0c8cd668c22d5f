"""The scheduled sweep: acts on ticket timers that fell due, idempotently.

Due times live in the tickets table (`due_at`, indexed), not in a scheduler: APScheduler 3
records a run before it finishes, so a crash mid-job would lose it. Each due ticket is
handled in its own transaction that writes the new state, the event and the outbox row
together; the state it leaves cannot fire the same stage again, so running the sweep twice
(or after a crash) sends nothing twice. With several nodes on PostgreSQL every node sweeps;
each ticket's transaction begins by holding its row (`hold_ticket_id`), so two sweeps of
one due ticket run one after the other and the second finds nothing due. The decision of
what is due is `policy.lifecycle.due_action`, given `now` by the caller.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime

from maildaemon.bounce_sweep import HANDED_OVER, hand_over
from maildaemon.config import Config
from maildaemon.domain import Status
from maildaemon.policy.lifecycle import TicketClock, Timers, due_action, next_due
from maildaemon.policy.priority import describe_hours
from maildaemon.render import Renderer
from maildaemon.retention import retention_sweep
from maildaemon.sla_status import resumed_resolution_due
from maildaemon.sla_sweep import sla_breaches
from maildaemon.store import TicketCommands, TicketRecord, iso, parse_iso
from maildaemon.updates_sweep import ProactiveUpdates

log = logging.getLogger("maildaemon.sweeps")

BATCH = 1000


def timers_of(config: Config) -> Timers:
    life = config.lifecycle
    return Timers(life.remind_days, life.mark_days, life.close_days, life.resolved_days)


def in_days(days: float) -> str:
    return describe_hours(days * 24).removeprefix("within ")


class Sweeper:
    def __init__(self, config: Config, store: TicketCommands, renderer: Renderer) -> None:
        self.config = config
        self.store = store
        self.renderer = renderer
        self.timers = timers_of(config)

    def run(self, now: datetime) -> Counter[str]:
        """Every ticket whose timer is due as of `now`; returns what was done, by action."""
        done: Counter[str] = Counter()
        self.store.forget_old_replies(now)
        for _ in range(10_000):
            ids = self.store.due_tickets(now, BATCH)
            if not ids:
                break
            for ticket_id in ids:
                done[self._one(ticket_id, now)] += 1
        done.update(sla_breaches(self.config, self.store, self.renderer, now))  # sla_sweep.py
        done.update(ProactiveUpdates(self.config, self.store, self.renderer).run(now))
        done.update(retention_sweep(self.config, self.store, now))  # [storage] retention_days
        return done

    def _one(self, ticket_id: int, now: datetime) -> str:
        with self.store.transaction():
            # Every node sweeps: the ticket is held before its state is read, so a stage
            # another node fired meanwhile is seen as fired and not fired again.
            self.store.hold_ticket_id(ticket_id)
            row = self.store.ticket_by_id(ticket_id)
            assert row is not None, "tickets are never deleted"
            clock = TicketClock(Status(row.status), parse_iso(row.status_since) or now,
                                row.reminded, row.waiting_on_customer)
            action = due_action(clock, self.timers, now)
            stamp = iso(now)
            if action and hand_over(self.config, self.store, self.renderer, row, action, now):
                return HANDED_OVER  # bounce_sweep.py: the requester never got our mail
            if action == "remind":
                clock = TicketClock(clock.status, clock.since, True, False)
                self.store.mark_reminded(ticket_id, waiting_on_customer=False)
                self.notify(row, "reminder", now, {})
            elif action == "mark_waiting":
                clock = TicketClock(clock.status, clock.since, True, True)
                self.store.mark_reminded(ticket_id, waiting_on_customer=True)
                left = self.timers.close_days - self.timers.mark_days
                self.notify(row, "waiting_on_customer", now, {"close_in": in_days(left)})
            elif action == "close":
                waited = (self.timers.close_days if clock.status == Status.WAITING
                          else self.timers.resolved_days)
                reason = ("we did not hear from you for " if clock.status == Status.WAITING
                          else "the solution was provided ") + in_days(waited) + \
                    ("" if clock.status == Status.WAITING else " ago")
                self.store.set_status(ticket_id, Status.CLOSED, stamp, None,
                                      resumed_resolution_due(self.config, row, Status.CLOSED,
                                                             now))
                self.store.add_event(ticket_id, stamp, "status",
                                     f"{clock.status} -> closed by the sweep: {reason}")
                self.notify(row, "closed", now, {
                    "reason": reason, "reopen_in": in_days(self.config.lifecycle.reopen_days)})
                self.notify(row, "survey", now, {})
                return "close"
            due = next_due(clock, self.timers)
            self.store.set_due(ticket_id, iso(due) if due else None)
            if action:
                self.store.add_event(ticket_id, stamp, action, f"by the sweep at {stamp}")
            return action or "rescheduled"

    def notify(self, ticket: TicketRecord, template: str, now: datetime,
               variables: dict[str, object]) -> None:
        out = self.renderer.render(
            template, number=ticket.number, queue=ticket.queue,
            queue_address=self.config.queue_address(ticket.queue),
            to=ticket.requester, ticket_subject=ticket.subject, now=now,
            in_reply_to=self.store.last_received_message_id(ticket.id),
            auto_submitted="auto-generated",
            variables={"customer_name": "", **variables},
        )
        if self.store.enqueue(ticket.id, out, iso(now)):
            log.info("%s: %s sent to %s", ticket.number, template, ticket.requester)
        else:
            log.info("%s: %s withheld from %s: undeliverable", ticket.number, template,
                     ticket.requester)
