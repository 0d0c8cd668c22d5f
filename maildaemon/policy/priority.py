"""First-response due time of a new ticket, and response times in the customer's words.

The priority itself is chosen by the rule table of the `[priority]` configuration
(priorityrules.py). The expected first response is `now` plus the configured hours for
that priority.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from maildaemon.domain import PolicySettings, Priority


def first_response_due(priority: Priority, settings: PolicySettings, now: datetime) -> datetime:
    return now + timedelta(hours=settings.sla_hours[priority])


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
