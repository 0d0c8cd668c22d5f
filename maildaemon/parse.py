"""Raw bytes -> `InboundMail`, without ever raising on bad input.

We parse with the standard library's `compat32` policy and decode each field ourselves rather
than use `policy.default`: the latter raises on malformed addresses, dates and encoded words
(67 of the 587 real messages we test against), and costs about 20x more per message. Each
field below has its own fallback, so one broken header costs that header, not the message.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from email.errors import MissingHeaderBodySeparatorDefect
from email.feedparser import BytesFeedParser
from email.message import Message
from email.utils import parsedate_to_datetime

from maildaemon import masking
from maildaemon.attachments import find_attachments
from maildaemon.authresults import dmarc_pass_domain
from maildaemon.domain import DmarcTrust, InboundMail
from maildaemon.headers import Headers, decode_bytes, decode_words, repair_header_block
from maildaemon.policy.attributions import is_forward_subject
from maildaemon.policy.quoting import own_text
from maildaemon.policy.reply import read_reply
from maildaemon.policy.replyhtml import quoted_text
from maildaemon.policy.sensitive import ALL, NOTHING

__all__ = ["decode_words", "html_to_text", "parse_mail"]

LOOP_HEADERS = (
    "auto-submitted",
    "precedence",
    "list-id",
    "list-unsubscribe",
    "x-autoreply",
    "x-autorespond",
    "x-auto-response-suppress",
)
# Real ids are under 100 characters; a longer one is ignored rather than echoed back in
# our In-Reply-To and References (ten of them are repeated in every answer).
MSGID = re.compile(r"<[^<>\s]{1,500}>")
MAX_TEXT = 1_000_000
FEED_CHUNK = 1 << 16


def parse_mail(
    raw: bytes, envelope_sender: str | None = None, envelope_rcpts: tuple[str, ...] = (),
    decode_limit: int | None = None, dmarc_trust: DmarcTrust | None = None,
    mask: frozenset[str] = ALL,
) -> InboundMail:
    """`decode_limit`: attachments larger than this (they will be refused) are measured and
    typed without being decoded whole. `dmarc_trust`: whose Authentication-Results prove a
    staff From address (authresults.py); None proves nothing. `mask`: the kinds of
    sensitive data masked before anything sees the message (masking.py): a message that
    holds any comes back parsed from its masked copy, `kept_raw`."""
    _, msg = read_message(raw)
    headers = Headers(msg)
    if envelope_sender is None:
        envelope_sender = headers.envelope_sender()
    message_id = _first_message_id(headers.first("message-id"))
    body_hash = hashlib.sha256(_body_view(raw)).hexdigest()
    raw_sha256 = hashlib.sha256(raw).hexdigest()
    dedup_key = f"{message_id} {body_hash}" if message_id else f"sha256:{raw_sha256}"
    from_name, from_addr = headers.sender()
    in_reply_to = tuple(MSGID.findall(headers.first("in-reply-to")))
    references = tuple(MSGID.findall(headers.first("references")))
    plain_part, plain, markup_part, markup = first_texts(msg)
    is_reply = bool(in_reply_to or references)
    # Before find_attachments empties the parts; the text parts decoded above are reused.
    subject = headers.text("subject")
    suspect = bool(mask) and masking.suspect(
        msg, mask, {id(plain_part): plain or "", id(markup_part): markup or ""},
        (subject, *(headers.text(name) for name in masking.TEXT_HEADERS[1:]
                    if headers.first(name))))
    mail = InboundMail(
        message_id=message_id,
        dedup_key=dedup_key,
        from_addr=from_addr,
        from_name=from_name,
        to=headers.addresses("to"),
        cc=headers.addresses("cc"),
        subject=subject,
        date=_date(headers.first("date")),
        in_reply_to=in_reply_to,
        references=references,
        loop_headers={name: headers.first(name) for name in LOOP_HEADERS if name in msg},
        content_type=_content_type(msg),
        text=faithful_text(plain, markup)[:MAX_TEXT],
        own_text=own_text(text_to_read(plain, markup, is_reply)[:MAX_TEXT],
                          forwarded=not is_reply and is_forward_subject(subject)),
        envelope_sender=envelope_sender,
        envelope_rcpts=tuple(a.lower() for a in envelope_rcpts),
        raw_sha256=raw_sha256,
        size=len(raw),
        defects=tuple(sorted({type(d).__name__ for d in _all_defects(msg)})),
        attachments=tuple(find_attachments(msg, decode_limit)),
        dmarc_pass_domain=_dmarc_pass(headers, from_addr, dmarc_trust),
    )
    # Besides: the files libmagic found to be text, the text of an HTML-only mail, and the
    # files' names.
    shown = [] if plain is not None and plain.strip() else [mail.text]
    if mask and (suspect or any(masking.holds(text, mask) for text in (
            *masking.file_texts(mail, True), *shown, *(a.filename for a in mail.attachments)))):
        return masking.masked(raw, mail, mask, lambda kept: parse_mail(
            kept, envelope_sender, envelope_rcpts, decode_limit, dmarc_trust, NOTHING))
    return mail


def read_message(raw: bytes) -> tuple[bytes, Message]:
    """The bytes the parser reads (the header block repaired when it lacks its blank
    line) and the parsed message."""
    msg = message_from(raw)
    if any(isinstance(d, MissingHeaderBodySeparatorDefect) for d in msg.defects):
        raw = repair_header_block(raw)
        msg = message_from(raw)
    return raw, msg


def _dmarc_pass(headers: Headers, from_addr: str, trust: DmarcTrust | None) -> str:
    if trust is None or not trust.authserv_id:
        return ""
    first = headers.values("authentication-results")[:1]
    return dmarc_pass_domain(first[0] if first else None, from_addr, trust)


def message_from(raw: bytes) -> Message:
    """The parsed message, fed to the parser in slices.

    `message_from_bytes` first decodes the whole message into one string: for a 70 MB
    message that is a second 70 MB before parsing even starts. Feeding slices of a
    memoryview costs only a slice at a time.
    """
    parser = BytesFeedParser()
    view = memoryview(raw)
    for start in range(0, len(raw), FEED_CHUNK):
        parser.feed(bytes(view[start:start + FEED_CHUNK]))
    return parser.close()


def _first_message_id(value: str) -> str | None:
    found = MSGID.search(value)
    if found:
        return found.group(0)
    value = value.strip()
    return f"<{value}>" if value and " " not in value and len(value) < 500 else None


def _date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except Exception:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def _content_type(msg: Message) -> str:
    try:
        return msg.get_content_type()
    except Exception:
        return "text/plain"


def _body_view(raw: bytes) -> memoryview:
    """The bytes after the header block, without copying them."""
    for separator in (b"\r\n\r\n", b"\n\n"):
        index = raw.find(separator)
        if index >= 0:
            return memoryview(raw)[index + len(separator):]
    return memoryview(b"")


def _all_defects(msg: Message) -> list[object]:
    defects: list[object] = []
    try:
        for part in msg.walk():
            defects.extend(getattr(part, "defects", []))
    except Exception:
        pass
    return defects


def part_text(part: Message) -> str:
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if not isinstance(payload, bytes):
        raw = part.get_payload()
        return raw if isinstance(raw, str) else ""
    try:
        charset = part.get_content_charset()
    except Exception:
        charset = None
    return decode_bytes(payload, charset)


def body_text(msg: Message) -> str:
    """The customer's text: the first inline text/plain part, else the HTML as plain text."""
    return faithful_text(*text_parts(msg))


def text_parts(msg: Message) -> tuple[str | None, str | None]:
    """The first inline text/plain part and the first inline text/html part, as text."""
    _, plain, _, markup = first_texts(msg)
    return plain, markup


def first_texts(msg: Message) -> tuple[Message | None, str | None, Message | None, str | None]:
    """`text_parts`, with the parts they were read from."""
    plain: str | None = None
    markup: str | None = None
    plain_part = markup_part = None
    try:
        parts = list(msg.walk())
    except Exception:
        parts = [msg]
    for part in parts:
        try:
            if part.is_multipart():
                continue
            ctype = part.get_content_type()
            disposition = (part.get("content-disposition") or "").lower()
        except Exception:
            continue
        if disposition.startswith("attachment"):
            continue
        if ctype == "text/plain" and plain is None:
            plain, plain_part = part_text(part).replace("\r\n", "\n"), part
        elif ctype == "text/html" and markup is None:
            markup, markup_part = part_text(part), part
    return plain_part, plain, markup_part, markup


def faithful_text(plain: str | None, markup: str | None) -> str:
    """What agents see: the text part as written, else the HTML as a text mailer shows it."""
    if plain is not None and plain.strip():
        return plain
    if markup is not None:
        return html_to_text(markup)
    return plain or ""


QUOTED_LINE = re.compile(r"^[^\S\n]*>", re.MULTILINE)


def text_to_read(plain: str | None, markup: str | None, is_reply: bool) -> str:
    """The text the reply model splits: the text part when it shows the model a quote (">"
    lines, or an attribution or header block it recognises), else the HTML with its quote
    marked from the markup. Outlook, Yahoo and OWA write their text part without a marker,
    and an attribution in a language the model does not know would leave the whole quote
    in; their HTML marks it. A mail that is not a reply (no In-Reply-To, no References) is
    read from its text part: what Outlook's HTML shows as a quote there is a forward, which
    is the customer's own text."""
    if plain is None or not plain.strip():
        return faithful_text(plain, markup)
    if markup is None or not is_reply or QUOTED_LINE.search(plain) or _shows_quote(plain):
        return plain
    from_markup = quoted_text(markup)
    return from_markup if QUOTED_LINE.search(from_markup) else plain


def _shows_quote(plain: str) -> bool:
    """Does the model find quoted history in the text part (an attribution, a header block,
    unmarked history under them)? A signature alone is not a quote."""
    return any(block.kind in ("quote", "attribution", "header_block")
               for block in read_reply(plain).blocks)


def html_to_text(markup: str) -> str:
    """Readable text of an HTML part: block elements end lines, scripts, styles and
    comments go, entities are decoded, and quoted history is marked "> " from the markup
    (policy/replyhtml.py), as a text mailer would show it."""
    return quoted_text(markup)
