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
from email import message_from_bytes
from email.header import decode_header
from email.message import Message
from email.utils import getaddresses, parseaddr, parsedate_to_datetime
from html.parser import HTMLParser

from maildaemon.domain import InboundMail

LOOP_HEADERS = (
    "auto-submitted",
    "precedence",
    "list-id",
    "list-unsubscribe",
    "x-autoreply",
    "x-autorespond",
    "x-auto-response-suppress",
)
FALLBACK_CHARSETS = ("utf-8", "cp1252")
MSGID = re.compile(r"<[^<>\s]+>")
MAX_TEXT = 1_000_000


def parse_mail(
    raw: bytes, envelope_sender: str | None = None, envelope_rcpts: tuple[str, ...] = ()
) -> InboundMail:
    msg = message_from_bytes(raw)
    if envelope_sender is None and "return-path" in msg:
        # What an MTA pipe transport records of the envelope: "<>" is a bounce.
        envelope_sender = _one_address(_header(msg, "return-path"))[1]
    message_id = _first_message_id(_header(msg, "message-id"))
    body_hash = hashlib.sha256(_body_bytes(raw)).hexdigest()
    raw_sha256 = hashlib.sha256(raw).hexdigest()
    dedup_key = f"{message_id} {body_hash}" if message_id else f"sha256:{raw_sha256}"
    from_name, from_addr = _one_address(_header(msg, "from"))
    return InboundMail(
        message_id=message_id,
        dedup_key=dedup_key,
        from_addr=from_addr,
        from_name=from_name,
        to=_addresses(msg, "to"),
        cc=_addresses(msg, "cc"),
        subject=_decoded_header(msg, "subject"),
        date=_date(_header(msg, "date")),
        in_reply_to=tuple(MSGID.findall(_header(msg, "in-reply-to"))),
        references=tuple(MSGID.findall(_header(msg, "references"))),
        loop_headers={name: _header(msg, name) for name in LOOP_HEADERS if name in msg},
        content_type=_content_type(msg),
        text=body_text(msg)[:MAX_TEXT],
        envelope_sender=envelope_sender,
        envelope_rcpts=tuple(a.lower() for a in envelope_rcpts),
        raw_sha256=raw_sha256,
        size=len(raw),
        defects=tuple(sorted({type(d).__name__ for d in _all_defects(msg)})),
    )


def _raw_values(msg: Message, name: str) -> list[str]:
    """Every value of a header as text; raw 8-bit bytes are decoded as UTF-8, else cp1252.

    Read through `raw_items` because compat32's `get` turns undeclared 8-bit bytes into
    replacement characters, losing every non-ASCII letter of a name or subject.
    """
    values: list[str] = []
    try:
        for key, value in msg.raw_items():
            if key.lower() != name:
                continue
            text = str(value)
            if any("\udc80" <= ch <= "\udcff" for ch in text):
                text = _decode_bytes(text.encode("ascii", "surrogateescape"), None)
            values.append(text)
    except Exception:
        return values
    return values


def _header(msg: Message, name: str) -> str:
    values = _raw_values(msg, name)
    return " ".join(values[0].split()) if values else ""


def _decode_bytes(data: bytes, charset: str | None) -> str:
    for candidate in (charset, *FALLBACK_CHARSETS):
        if not candidate:
            continue
        try:
            return data.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("latin-1")


def decode_words(value: str) -> str:
    """RFC 2047 encoded words decoded, tolerating unknown charsets and bad encodings."""
    try:
        parts = decode_header(value)
    except Exception:
        return value
    out: list[str] = []
    for chunk, charset in parts:
        out.append(chunk if isinstance(chunk, str) else _decode_bytes(chunk, charset))
    return " ".join("".join(out).split())


def _decoded_header(msg: Message, name: str) -> str:
    return decode_words(_header(msg, name))


def _one_address(value: str) -> tuple[str, str]:
    try:
        name, address = parseaddr(value)
    except Exception:
        return "", ""
    address = address.strip().lower()
    if "@" not in address:
        address = ""
    return decode_words(name), address


def _addresses(msg: Message, name: str) -> tuple[str, ...]:
    try:
        pairs = getaddresses([decode_words(v) for v in _raw_values(msg, name)])
    except Exception:
        return ()
    found = [addr.strip().lower() for _, addr in pairs if "@" in addr]
    return tuple(dict.fromkeys(found))


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


def _body_bytes(raw: bytes) -> bytes:
    for separator in (b"\r\n\r\n", b"\n\n"):
        index = raw.find(separator)
        if index >= 0:
            return raw[index + len(separator):]
    return b""


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
    return _decode_bytes(payload, charset)


def body_text(msg: Message) -> str:
    """The customer's text: the first inline text/plain part, else the HTML as plain text."""
    plain: str | None = None
    html: str | None = None
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
            plain = part_text(part)
        elif ctype == "text/html" and html is None:
            html = part_text(part)
    if plain is not None and plain.strip():
        return plain.replace("\r\n", "\n")
    if html is not None:
        return html_to_text(html)
    return plain or ""


class _TextExtractor(HTMLParser):
    BLOCKS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "blockquote", "table"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "head"):
            self.skip += 1
        elif tag in self.BLOCKS:
            self.chunks.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head") and self.skip:
            self.skip -= 1
        elif tag in self.BLOCKS:
            self.chunks.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.chunks.append(data)


def html_to_text(html: str) -> str:
    parser = _TextExtractor()
    try:
        parser.feed(html)
        parser.close()
    except Exception:
        return html
    lines = (" ".join(line.split()) for line in "".join(parser.chunks).splitlines())
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
