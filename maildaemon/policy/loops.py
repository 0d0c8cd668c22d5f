"""Automatic mail: what must never be answered automatically (RFC 3834 and friends).

The rules are ordered, and the first that matches names the reason stored on the message.
Beyond RFC 3834's Auto-Submitted we honour the headers real autoresponders use instead
(Precedence, X-Autoreply, X-Autorespond, Microsoft's X-Auto-Response-Suppress) and delivery
reports (multipart/report), because one missed bounce is enough to start a mail loop.
"""

from __future__ import annotations

from maildaemon.domain import InboundMail, PolicySettings
from maildaemon.policy.routing import is_own_address

ROBOT_LOCAL_PARTS = (
    "mailer-daemon",
    "postmaster",
    "no-reply",
    "noreply",
    "do-not-reply",
    "donotreply",
    "do_not_reply",
    "bounce",
    "bounces",
)


def automated_reason(mail: InboundMail, settings: PolicySettings) -> str | None:
    headers = mail.loop_headers
    sender = (mail.envelope_sender or "").strip().strip("<>")
    if mail.envelope_sender is not None and not sender:
        return "null_envelope_sender"
    auto = headers.get("auto-submitted", "").split(";")[0].strip().lower()
    if auto and auto != "no":
        return "auto_submitted"
    if headers.get("precedence", "").strip().lower() in ("bulk", "junk", "list", "auto_reply"):
        return "precedence_" + headers["precedence"].strip().lower()
    if "list-id" in headers or "list-unsubscribe" in headers:
        return "mailing_list"
    if "x-autoreply" in headers or "x-autorespond" in headers:
        return "x_autoreply"
    suppress = headers.get("x-auto-response-suppress", "").lower()
    if "all" in suppress or "oof" in suppress:
        return "auto_response_suppress"
    if mail.content_type == "multipart/report":
        return "delivery_report"
    for address in (mail.from_addr, sender):
        local = address.lower().rpartition("@")[0]
        if local and (local in ROBOT_LOCAL_PARTS or local.startswith("bounce")):
            return "robot_sender"
        if address and is_own_address(address, settings):
            return "own_address"
    if not mail.from_addr:
        return "no_sender_address"
    return None


def may_autoreply(recent_autoreplies: int, settings: PolicySettings) -> bool:
    """At most `max_per_hour` automatic answers to one address per hour."""
    return recent_autoreplies < settings.autoreply_max_per_hour
