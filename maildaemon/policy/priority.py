"""First-response due time of a new ticket, and response times in the customer's words.

The priority itself is chosen by the rule table of the `[priority]` configuration
(priorityrules.py); the due times come from policy/sla.py (targets by priority and tier).
"""

from __future__ import annotations

from datetime import datetime

from maildaemon.domain import PolicySettings, Priority, Tier
from maildaemon.policy.sla import due_times, sla_of


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
