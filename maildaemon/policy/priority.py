"""Priority and first-response due time of a new ticket.

Deliberately simple and documented in the README: the escalation queue is at least high; a
subject naming an outage is critical, one saying it is urgent is high; everything else is
medium. The due times come from policy/sla.py (targets by priority and tier).
"""

from __future__ import annotations

import re
from datetime import datetime

from maildaemon.domain import PolicySettings, Priority, Tier
from maildaemon.policy.sla import due_times, sla_of

CRITICAL_WORDS = re.compile(
    r"\b(outage|down|emergency|critical|data loss|security breach|breach)\b", re.IGNORECASE
)
HIGH_WORDS = re.compile(r"\b(urgent|asap|important|blocked|fire)\b", re.IGNORECASE)


def priority_for(queue: str, subject: str) -> Priority:
    if CRITICAL_WORDS.search(subject):
        return Priority.CRITICAL
    if HIGH_WORDS.search(subject) or queue == "escalation":
        return Priority.HIGH
    return Priority.MEDIUM


def first_response_due(priority: Priority, settings: PolicySettings, now: datetime,
                       tier: Tier = Tier.FREE) -> datetime:
    """The first-response due time alone; policy/sla.py's `due_times` computes it."""
    return due_times(priority, tier, now, sla_of(settings)).first_response


def describe_hours(hours: float) -> str:
    """'within 24 hours', 'within 1 hour', 'within 3 days': the customer's words."""
    if hours >= 48 and hours % 24 == 0:
        days = int(hours // 24)
        return f"within {days} days"
    if hours < 1:
        minutes = max(1, round(hours * 60))
        return f"within {minutes} minutes"
    whole = int(hours) if float(hours).is_integer() else hours
    return f"within {whole} hour" + ("" if whole == 1 else "s")
