"""The customer's mail about an escalation: the confirmation with the new priority and
response target, "already escalated", and the one refusal (policy/escalating.py decides
which). Rendered through render.py like every mail of ours.

The refusal is the same mail whatever the reason (a stranger, a number with no ticket, a
ticket closed too long ago): the same template with the same variables, nothing of any
ticket in it, the subject only the number the sender wrote themselves. So two refusals to
one sender differ only in their Date, Message-ID and that number.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

from maildaemon.calendar_config import business_calendar
from maildaemon.config import Config
from maildaemon.domain import (
    Escalation,
    EscalationFate,
    OutgoingMail,
    PolicySettings,
    Priority,
    Reply,
    Tier,
)
from maildaemon.policy.sla import Kind, sla_of
from maildaemon.render import Renderer

TEMPLATES = frozenset({"escalation_confirmed", "escalation_already", "escalation_refused"})
REFUSED_SUBJECT = "Your escalation request"


def zone_name(zone: tzinfo) -> str:
    return str(getattr(zone, "key", "") or zone)


def when_words(moment: datetime | None, zone: tzinfo) -> str:
    """A moment as the customer reads it, in the business calendar's zone:
    "Tuesday 1 December 2026, 10:00 (Europe/Berlin)"."""
    if moment is None:
        return ""
    local = moment.astimezone(zone)
    return f"{local:%A} {local.day} {local:%B %Y, %H:%M} ({zone_name(zone)})"


def response_words(priority: Priority, tier: Tier, settings: PolicySettings) -> str:
    """The response target in words ("within 2 hours"): the first-response target of the
    priority for the tier (policy/sla.py), as the acknowledgement words it."""
    return "within " + sla_of(settings).target(Kind.FIRST_RESPONSE, priority, tier).words()


def escalation_values(esc: Escalation, settings: PolicySettings,
                      zone: tzinfo = UTC) -> dict[str, object]:
    if esc.priority is None:
        return {"priority": "", "first_response": "", "respond_by": ""}
    return {"priority": str(esc.priority),
            "first_response": response_words(esc.priority, esc.tier, settings),
            "respond_by": when_words(esc.first_response_due, zone)}


def render_escalation_reply(renderer: Renderer, config: Config, settings: PolicySettings,
                            esc: Escalation, reply: Reply, *, number: str,
                            ticket_subject: str, now: datetime, in_reply_to: str | None,
                            references: tuple[str, ...] = (),
                            customer_name: str = "") -> OutgoingMail:
    refused = esc.fate == EscalationFate.REFUSED
    values: dict[str, object] = {"customer_name": customer_name}
    if not refused:
        values.update(escalation_values(esc, settings, business_calendar(config).zone))
    return renderer.render(
        reply.template, number=esc.number if refused else number, queue=reply.queue,
        queue_address=config.queue_address(reply.queue), to=reply.to,
        ticket_subject=REFUSED_SUBJECT if refused else ticket_subject, now=now,
        in_reply_to=in_reply_to, references=references,
        auto_submitted=reply.auto_submitted, variables=values)
