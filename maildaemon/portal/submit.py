"""A submission from the API or the portal, made a message and put in the spool.

The other two doors are doors onto the same pipeline: what the app backend posts, and what a
logged-in customer writes on a ticket page, becomes an RFC 5322 message from the customer to
the queue's address (a comment also names the ticket's latest message in `In-Reply-To` and
carries `[HS-XXXXXX]` in its subject), committed to the spool like one received by SMTP. The
worker decides on it with the same table, limits, masking, templates and events as mail; the
customer's acknowledgement goes out by mail. The spool entry's `peer` says which door
("portal:api" or "portal:web"), as an SMTP entry's says which client.

The answer waits for the worker's outcome (`processed`, by spool id) so that the API can
return the ticket number and the refused files; the entry is durable before the wait starts,
so a worker that is slow or down delays the ticket, it never loses it (`wait_for_outcome`
returns None and the caller says "accepted, number to follow").
"""

from __future__ import annotations

import mimetypes
import re
import time
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from starlette.datastructures import UploadFile

from maildaemon.portal.context import PortalContext
from maildaemon.spool import Incoming

QUEUES = ("support", "tech", "billing", "bugs")  # escalation is an act on a ticket, not a door
MAX_ADDRESS = 254
MAX_FILENAME = 255
MAX_SUBJECT = 998  # one header line (RFC 5322); the worker shortens what it echoes
ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"  # RFC 5322 atext, ASCII: a dot-atom local part
ADDRESS = re.compile(rf"{ATEXT}(?:\.{ATEXT})*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                     r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+")
POLL_SECONDS = 0.05
WAIT_SECONDS = 20.0


@dataclass(frozen=True)
class Upload:
    filename: str
    content_type: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class Submission:
    email: str
    subject: str
    text: str
    queue: str = "support"
    name: str = ""
    files: tuple[Upload, ...] = ()
    in_reply_to: str | None = None  # a Message-ID on the ticket: this is a comment on it
    door: str = "web"  # "api" or "web": the spool entry's peer is "portal:" + door


@dataclass(frozen=True)
class Outcome:
    outcome: str  # the worker's (new_ticket, reply, duplicate, ...)
    number: str | None
    refused: tuple[tuple[str, str], ...]  # (filename, reason) of files not kept


def valid_address(text: str) -> str | None:
    """The address, lower-cased domain, if it is one plain addr-spec; else None. Stricter
    than RFC 5322 on purpose: a dot-atom local part in ASCII (no display names, comments,
    quoted or internationalised local parts), which every From header can carry as it is
    and which an address typed into a form or sent by the app backend rarely lacks."""
    value = text.strip()
    if len(value) > MAX_ADDRESS or not ADDRESS.fullmatch(value):
        return None
    local, _, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}"


def one_line(text: str) -> str:
    """A subject as one header line: line breaks and other controls become spaces."""
    return re.sub(r"[\x00-\x1f\x7f]+", " ", text).strip()[:MAX_SUBJECT]


async def upload_of(part: UploadFile) -> Upload | None:
    """The file of a form's part (the API's or a page's), its name one line of at most
    MAX_FILENAME characters; None for the empty part a form sends when no file was
    chosen."""
    data = await part.read()
    name = one_line(part.filename or "")[:MAX_FILENAME]
    if not data and not name:
        return None
    return Upload(filename=name or "file", content_type=part.content_type or "",
                  data=data)


def build_message(sub: Submission, ctx: PortalContext) -> tuple[bytes, str]:
    """(raw bytes, Message-ID) of the message a submission stands for."""
    config = ctx.config
    msg = EmailMessage()
    # Address() quotes the name: a name holding "<other@example.org>," names no one else.
    msg["From"] = Address(display_name=one_line(sub.name), addr_spec=sub.email)
    msg["To"] = config.queue_address(sub.queue)
    msg["Subject"] = one_line(sub.subject) or "(no subject)"
    msg["Date"] = format_datetime(ctx.clock())
    message_id = make_msgid(idstring=f"portal.{sub.door}", domain=config.mail.domain)
    msg["Message-ID"] = message_id
    if sub.in_reply_to:
        msg["In-Reply-To"] = sub.in_reply_to
        msg["References"] = sub.in_reply_to
    msg.set_content(sub.text or "", subtype="plain", charset="utf-8")
    for upload in sub.files:
        ctype = upload.content_type or mimetypes.guess_type(upload.filename)[0] or \
            "application/octet-stream"
        maintype, _, subtype = ctype.partition("/")
        if not subtype or "/" in subtype:
            maintype, subtype = "application", "octet-stream"
        msg.add_attachment(upload.data, maintype=maintype, subtype=subtype,
                           filename=upload.filename or "file")
    return bytes(msg), message_id


def spool_submission(ctx: PortalContext, sub: Submission) -> tuple[str, str]:
    """Commit the message to the spool (durable when this returns) and wake the worker.
    Returns (spool id, Message-ID)."""
    raw, message_id = build_message(sub, ctx)
    rcpt = ctx.config.queue_address(sub.queue)
    spool_id = ctx.spool().put(Incoming(sub.email, (rcpt,), raw, peer=f"portal:{sub.door}"))
    ctx.wake()
    return spool_id, message_id


def wait_for_outcome(ctx: PortalContext, spool_id: str, message_id: str,
                     seconds: float = WAIT_SECONDS) -> Outcome | None:
    """The worker's outcome for the entry, or None if it has not come within `seconds`."""
    store = ctx.store()
    deadline = time.monotonic() + seconds
    while True:
        done = store.processed_outcome(spool_id)
        if done is not None:
            return Outcome(done[0], done[1], store.refused_files(message_id))
        if time.monotonic() >= deadline:
            return None
        time.sleep(POLL_SECONDS)

