"""Ops hear of a held message: one the worker failed on `spool.max_attempts` times.

A held message is kept in the spool, never lost, but nothing happens to it until someone
runs `maildaemon spool retry`; before this alert nobody knew to. The alert goes to the
`[teams] ops` addresses, else the default team, as an outbox row on no ticket. It names
the spool entry, the error, the envelope sender and the subject line, each bounded and on
one line, and nothing of the message's body: the body is what the error came from, and may
hold anything (invariant: sensitive data never echoed).
"""

from __future__ import annotations

import html
import logging
import secrets
from contextlib import AbstractContextManager
from datetime import datetime
from email.parser import BytesHeaderParser
from email.policy import default
from email.utils import format_datetime
from typing import Protocol

from maildaemon.config import Config
from maildaemon.domain import OutgoingMail
from maildaemon.mime import alternative, fold, text_header
from maildaemon.policy.addresses import shorten
from maildaemon.policy.sensitive import mask
from maildaemon.render import mailbox_header
from maildaemon.spool import SpoolEntry
from maildaemon.store import iso

log = logging.getLogger("maildaemon.worker")

OPS_TEAM = "ops"
KIND = "held_alert"
HEADER_BYTES = 64 * 1024  # of the raw message read for its Subject, no more
LINE = 200  # characters of the subject or the sender shown
REASON = 500  # characters of the error shown


class AlertOutbox(Protocol):
    def transaction(self) -> AbstractContextManager[object]: ...
    def enqueue_unticketed(self, out: OutgoingMail, stamp: str) -> None: ...


def one_line(text: str, limit: int = LINE) -> str:
    """Printable characters on one line, at most `limit` of them."""
    shown = "".join(ch if ch.isprintable() else " " for ch in text[:limit * 4])
    return shorten(" ".join(shown.split()), limit)


def subject_of(raw: bytes) -> str:
    """The Subject of a message that may be broken in any way (it was held for a reason),
    with any sensitive data masked (policy/sensitive.py): the held message never was."""
    try:
        headers = BytesHeaderParser(policy=default).parsebytes(raw[:HEADER_BYTES])
        return one_line(mask(str(headers.get("Subject", ""))).text)
    except Exception:  # a header no parser reads: the alert goes without it
        return "(unreadable)"


def ops_addresses(config: Config) -> tuple[str, ...]:
    return config.teams.get(OPS_TEAM) or config.teams.get("default", ())


class HeldAlerts:
    def __init__(self, config: Config, outbox: AlertOutbox) -> None:
        self.config = config
        self.outbox = outbox

    def alert(self, entry: SpoolEntry, reason: str, now: datetime) -> int:
        """Queue the alert to each ops address; how many were queued. An alert that cannot
        be queued is logged, never raised: the message itself is safe in the spool."""
        addresses = ops_addresses(self.config)
        if not addresses:
            return 0
        try:
            with self.outbox.transaction():
                for address in addresses:
                    self.outbox.enqueue_unticketed(self.render(entry, reason, address, now),
                                                   iso(now))
        except Exception:
            log.exception("spool %s: held, and the alert to ops could not be queued",
                          entry.spool_id)
            return 0
        return len(addresses)

    def render(self, entry: SpoolEntry, reason: str, to: str, now: datetime) -> OutgoingMail:
        domain = self.config.mail.domain
        sender = self.config.queue_address(self.config.routing.default_queue)
        spool_id = one_line(entry.spool_id, 100)
        subject = f"[maildaemon] Held message {spool_id}"
        facts = [("Spool id", spool_id), ("Error", one_line(reason, REASON)),
                 ("Envelope sender", one_line(entry.mail_from or "<>")),
                 ("Subject", subject_of(entry.raw) or "(none)"),
                 ("Received", one_line(entry.received_at, 40))]
        text = ("A received message failed every attempt to process it and is held in the\n"
                "spool. It is kept, not lost, and waits for you.\n\n"
                + "".join(f"{name + ':':<17}{value}\n" for name, value in facts)
                + "\nTo see it:      maildaemon spool ls\n"
                f"To try again:   maildaemon spool retry {spool_id}\n")
        page = ("<!DOCTYPE html>\n<html><body><pre>" + html.escape(text)
                + "</pre></body></html>\n")
        message_id = f"<held.{secrets.token_hex(10)}@{domain}>"
        headers = [mailbox_header("From", "maildaemon", sender), fold("To", to),
                   text_header("Subject", subject), fold("Date", format_datetime(now)),
                   fold("Message-ID", message_id), "Auto-Submitted: auto-generated",
                   "X-Auto-Response-Suppress: All"]
        return OutgoingMail(kind=KIND, message_id=message_id, mail_from=sender, rcpt_to=to,
                            subject=subject, text=text,
                            raw=alternative(headers, text, page))
