"""The scheduled sweep: acts on ticket timers that fell due, idempotently.

Due times live in the tickets table (`due_at`, indexed), not in a scheduler: APScheduler 3
records a run before it finishes, so a crash mid-job would lose it. Each due ticket is
handled in its own transaction that writes the new state, the event and the outbox row
together; the state it leaves cannot fire the same stage again, so running the sweep twice
(or after a crash) sends nothing twice. The decision of what is due is
`policy.lifecycle.due_action`, given `now` by the caller.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime

from maildaemon.config import Config
from maildaemon.domain import Status
from maildaemon.policy.lifecycle import TicketClock, Timers, due_action, next_due
from maildaemon.policy.priority import describe_hours
from maildaemon.render import Renderer
from maildaemon.store import Store, iso, parse_iso

log = logging.getLogger("maildaemon.sweeps")

BATCH = 1000


def timers_of(config: Config) -> Timers:
    life = config.lifecycle
    return Timers(life.remind_days, life.mark_days, life.close_days, life.resolved_days)


def in_days(days: float) -> str:
    return describe_hours(days * 24).removeprefix("within ")


class Sweeper:
    def __init__(self, config: Config, store: Store, renderer: Renderer) -> None:
        self.config = config
        self.store = store
        self.renderer = renderer
        self.timers = timers_of(config)

    def run(self, now: datetime) -> Counter[str]:
        """Every ticket whose timer is due as of `now`; returns what was done, by action."""
        done: Counter[str] = Counter()
        stamp = iso(now)
        self.store.forget_old_replies(now)
        for _ in range(10_000):
            ids = [r[0] for r in self.store.conn.execute(
                "SELECT id FROM tickets WHERE due_at IS NOT NULL AND due_at <= ?"
                " ORDER BY due_at LIMIT ?", (stamp, BATCH))]
            if not ids:
                break
            for ticket_id in ids:
                done[self._one(ticket_id, now)] += 1
        return done

    def _one(self, ticket_id: int, now: datetime) -> str:
        with self.store.transaction() as conn:
            row = conn.execute("SELECT * FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
            clock = TicketClock(Status(row["status"]), parse_iso(row["status_since"]) or now,
                                bool(row["reminded"]), bool(row["waiting_on_customer"]))
            action = due_action(clock, self.timers, now)
            stamp = iso(now)
            if action == "remind":
                clock = TicketClock(clock.status, clock.since, True, False)
                conn.execute("UPDATE tickets SET reminded = 1 WHERE id = ?", (ticket_id,))
                self.notify(row, "reminder", now, {})
            elif action == "mark_waiting":
                clock = TicketClock(clock.status, clock.since, True, True)
                conn.execute("UPDATE tickets SET reminded = 1, waiting_on_customer = 1"
                             " WHERE id = ?", (ticket_id,))
                left = self.timers.close_days - self.timers.mark_days
                self.notify(row, "waiting_on_customer", now, {"close_in": in_days(left)})
            elif action == "close":
                waited = (self.timers.close_days if clock.status == Status.WAITING
                          else self.timers.resolved_days)
                reason = ("we did not hear from you for " if clock.status == Status.WAITING
                          else "the solution was provided ") + in_days(waited) + \
                    ("" if clock.status == Status.WAITING else " ago")
                self.store.set_status(conn, ticket_id, Status.CLOSED, stamp, None)
                self._event(ticket_id, stamp, "status",
                            f"{clock.status} -> closed by the sweep: {reason}")
                self.notify(row, "closed", now, {
                    "reason": reason, "reopen_in": in_days(self.config.lifecycle.reopen_days)})
                self.notify(row, "survey", now, {})
                return "close"
            due = next_due(clock, self.timers)
            conn.execute("UPDATE tickets SET due_at = ? WHERE id = ?",
                         (iso(due) if due else None, ticket_id))
            if action:
                self._event(ticket_id, stamp, action, f"by the sweep at {stamp}")
            return action or "rescheduled"

    def _event(self, ticket_id: int, stamp: str, kind: str, detail: str) -> None:
        self.store.conn.execute(
            "INSERT INTO events (ticket_id, at, type, detail) VALUES (?, ?, ?, ?)",
            (ticket_id, stamp, kind, detail))

    def notify(self, row: object, template: str, now: datetime,
                variables: dict[str, object]) -> None:
        ticket = dict(row)  # type: ignore[call-overload]
        out = self.renderer.render(
            template, number=ticket["number"], queue=ticket["queue"],
            queue_address=self.config.queue_address(ticket["queue"]),
            to=ticket["requester"], ticket_subject=ticket["subject"], now=now,
            in_reply_to=self.store.last_received_message_id(ticket["id"]),
            auto_submitted="auto-generated",
            variables={"customer_name": "", **variables},
        )
        self.store.enqueue(ticket["id"], out, iso(now))
        log.info("%s: %s sent to %s", ticket["number"], template, ticket["requester"])
