"""Customer-visible mail: Jinja2 text + HTML templates into a complete RFC 5322 message.

Autoescape is on for the HTML half and every variable must exist (StrictUndefined), so a
template typo fails `check-config` instead of mailing a customer a blank. Customer text
reaches the templates as data only, and we never quote the customer's body back. The MIME
assembly itself is in mime.py, which refuses any header value with a line break.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from datetime import datetime
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Any

import jinja2

from maildaemon.domain import OutgoingMail
from maildaemon.mime import alternative, encoded_words, fold, text_header
from maildaemon.policy.followup import echoed_subject, make_message_id, outbound_subject
from maildaemon.resources import shipped_dir

TEMPLATES = ("ack", "reply_received", "reminder", "waiting_on_customer", "closed",
             "agent_reply", "survey", "status_waiting", "status_on_hold", "status_resolved",
             "status_closed", "status_reopened", "agent_confirmation", "agent_refused",
             "agent_empty", "team_notification",
             "team_digest", "sla_breach", "escalation_confirmed", "escalation_already",
             "escalation_refused", "status_update", "duplicate_received", "flood",
             "sensitive_data", "portal_login")


def environment(directory: Path | None = None,
                overrides: Mapping[str, tuple[str, str]] | None = None) -> jinja2.Environment:
    """`overrides`: file name -> (source, path) of the operator's `[templates] directory`,
    read once (templates_config.py), which win one by one over the shipped set. Read once
    so that a file edited in place changes nothing until a reload has checked it."""
    shipped = jinja2.FileSystemLoader(str(directory or shipped_dir("templates")))
    loader: jinja2.BaseLoader = shipped
    if overrides is not None:
        held = dict(overrides)

        def load(name: str) -> tuple[str, str, Callable[[], bool]] | None:
            found = held.get(name)
            return None if found is None else (found[0], found[1], lambda: True)

        loader = jinja2.ChoiceLoader([jinja2.FunctionLoader(load), shipped])
    return jinja2.Environment(
        loader=loader,
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


class Renderer:
    def __init__(self, domain: str, secret: bytes, env: jinja2.Environment | None = None):
        self.domain = domain
        self.secret = secret
        self.env = env or environment()

    def render(
        self,
        template: str,
        *,
        number: str,
        queue: str,
        queue_address: str,
        to: str,
        ticket_subject: str,
        now: datetime,
        in_reply_to: str | None,
        references: tuple[str, ...] = (),
        auto_submitted: str = "auto-replied",
        variables: dict[str, Any] | None = None,
        cc: list[str] | None = None,
        files: list[tuple[str, str, bytes]] | None = None,
        reply_to: str | None = None,
        kind: str | None = None,
    ) -> OutgoingMail:
        """`reply_to`: where answers go instead of From (a team notification's per-ticket
        reply address); `kind`: the outbox row's kind when it is not the template's name."""
        subject = outbound_subject(number, ticket_subject)
        values = {
            "number": number,
            "queue": queue,
            "queue_address": queue_address,
            "subject": subject,
            "ticket_subject": echoed_subject(ticket_subject),  # bounded, as in Subject
            "domain": self.domain,
            **(variables or {}),
        }
        return compose(
            self.env, template, values, kind=kind or template,
            sender=(f"{queue.capitalize()} team", queue_address), to=to, subject=subject,
            now=now,
            message_id=make_message_id(self.secret, number, secrets.token_hex(8), self.domain),
            auto_submitted=auto_submitted, cc=cc or [], reply_to=reply_to,
            in_reply_to=in_reply_to, references=references, files=files or [])


def compose(env: jinja2.Environment, template: str, values: dict[str, Any], *, kind: str,
            sender: tuple[str, str], to: str, subject: str, now: datetime, message_id: str,
            auto_submitted: str, cc: list[str] | None = None, reply_to: str | None = None,
            in_reply_to: str | None = None, references: tuple[str, ...] = (),
            files: list[tuple[str, str, bytes]] | None = None) -> OutgoingMail:
    """A template pair rendered into a complete message: the headers every mail of ours
    carries (the ticket mail of `Renderer.render`, the digest), in one order."""
    text = env.get_template(f"{template}.txt").render(values)
    html = env.get_template(f"{template}.html").render(values)
    headers = [
        mailbox_header("From", sender[0], sender[1]),
        fold("To", to),
        *([fold("Cc", ", ".join(cc))] if cc else []),
        text_header("Subject", subject),
        fold("Date", format_datetime(now)),
        fold("Message-ID", message_id),
        *([fold("Reply-To", reply_to)] if reply_to else []),
    ]
    if in_reply_to:
        headers.append(fold("In-Reply-To", in_reply_to))
        refs = dict.fromkeys([*references[-10:], in_reply_to])
        headers.append(fold("References", " ".join(refs)))
    headers.append(fold("Auto-Submitted", auto_submitted))
    # Exchange and Outlook: do not answer this with an out-of-office reply.
    headers.append("X-Auto-Response-Suppress: All")
    return OutgoingMail(kind=kind, message_id=message_id, mail_from=sender[1], rcpt_to=to,
                        subject=subject, text=text,
                        raw=alternative(headers, text, html, files or ()),
                        cc=tuple(cc or ()))


def mailbox_header(name: str, display: str, address: str) -> str:
    """`Name: display <address>` with the address as it is, UTF-8 included.

    Only the display name may be an RFC 2047 encoded word: an encoded word in the address
    is not an address (`formataddr` refuses a UTF-8 address, and Python's generator writes
    `=?utf-8?q?...?=@domain`, which no relay can deliver). A UTF-8 address needs SMTPUTF8,
    which the sender asks the relay for.
    """
    if not display:
        return fold(name, address)
    if display.isascii():  # quoted where it has to be
        shown = formataddr((display, "placeholder@invalid")).removesuffix(
            " <placeholder@invalid>")
    else:
        shown = " ".join(encoded_words(display))
    return fold(name, f"{shown} <{address}>")


def sample_variables() -> dict[str, Any]:
    """Values for every template variable, used by `check-config` to try each template."""
    return {"first_response": "within 24 hours", "priority": "medium", "customer_name": "Alice",
            "refused": ["screenshot.bmp: this file type is not accepted"],
            "close_in": "7 days", "reopen_in": "7 days",
            "reason": "we did not hear from you for 14 days",
            "body": "Could you send us the log file?\n\nThanks", "agent_name": "Sam",
            "status_line": "we are waiting for your answer",
            "status_words": "resolved", "note": "", "follows": "HS-000001",
            "applied": ["#status resolved"], "fate": "Your text was sent to the customer.",
            "not_applied": ["#frobnicate: unknown command"],
            "respond_by": "Tuesday 1 December 2026, 10:00 UTC",
            "assignee_words": "kim@healthsync.com", "update_every": "2 business days",
            "next_target": "our first answer by Tuesday 1 December 2026, 10:00 UTC",
            "bug_missing": [{"label": "App version", "example": "App version: 3.2.0"}],
            "removed": "a payment card number", "removed_password": True,
            "login_url": "https://support.healthsync.com/login/sample-token",
            "valid_for": "30 minutes",
            **notification_samples(), **digest_samples(), **sla_breach_samples()}


def notification_samples() -> dict[str, Any]:
    """The variables of team_notification (notifications.py fills them in)."""
    return {"kinds": "New ticket", "customer": "alice@example.org", "about": "Pump stopped",
            "customer_text": "My pump stopped.", "status": "new",
            "due": "2026-12-01 09:00 UTC", "tier": "free", "escalation": "",
            "unverified": "dmarc=fail for example.org",  # the ack's flag too
            "reply_address": "support+HS-000001-abcdefghijklmnop@healthsync.com",
            "comment_address": "support+HS-000001-abcdefghijklmnop-comment@healthsync.com",
            "recent": [{"sender": "alice@example.org", "at": "2026-11-30 08:00 UTC",
                        "text": "It beeps."}],
            "attached": ["pump.pdf"],
            "listed": ["video.mp4: maildaemon attachment HS-000001 2 --output ."]}


def digest_samples() -> dict[str, Any]:
    """The variables of team_digest (digest.py fills them in): one overdue ticket, one in
    a priority group."""
    late = {"number": "HS-000001", "subject": "Invoice twice", "queue": "billing",
            "priority": "high", "status": "new", "age": "9 h",
            "due": "2026-01-05 09:00 CET", "late": "5 h"}
    waiting = {**late, "number": "HS-000002", "status": "open", "due": "", "late": ""}
    return {"team": "billing", "day": "2026-01-05", "timezone": "Europe/Berlin",
            "total": 2, "overdue_count": 1, "overdue": [late],
            "groups": [{"priority": "high", "tickets": [waiting]}], "unlisted": 0}


def sla_breach_samples() -> dict[str, Any]:
    """The variables of sla_breach (sla_sweep.py fills them in) that no other has."""
    return {"target": "first response", "promised": "within 2 hours", "late": "5 minutes",
            "requester": "alice@example.org", "assignee": "nobody"}
