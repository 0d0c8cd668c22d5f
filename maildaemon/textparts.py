"""The text of a received message, part by part: which leaves are text, where each stands
(the text, a file, an attached message), how its bytes read as text and are written back.

masking.py and rewrite.py read messages through this; parse.py has its own, faster path
for the one or two parts it shows, and hands those over already decoded.
"""

from __future__ import annotations

import codecs
import hashlib
import html
from collections.abc import Callable, Iterator
from email.message import Message
from typing import NamedTuple

from maildaemon.attachments import SIGNATURE_TYPES, clean_filename
from maildaemon.domain import InboundMail
from maildaemon.headers import Headers
from maildaemon.policy.sensitive import Masked, mask

TEXT_TYPES = frozenset({"application/json", "application/xml", "application/csv",
                        "application/x-ndjson", "application/x-yaml"})
TEXT_HEADERS = ("subject", "thread-topic", "comments", "keywords")
SUBJECT, TEXT, ATTACHED = "the subject", "the text", "attached-message.eml"
Masker = Callable[[str, frozenset[str], bool], Masked]


def is_text(kind: str) -> bool:
    return kind.startswith("text/") or kind in TEXT_TYPES


class Leaf(NamedTuple):
    part: Message
    kind: str  # the declared type
    place: str  # "the text", the file's name, or the attached message's
    read: bool  # a text part, or a file libmagic found to be text


def leaves(msg: Message, files: dict[str, bool] | None, place: str = TEXT,
           attached: list[Message] | None = None) -> Iterator[Leaf]:
    """Every leaf in document order. `files`: sha256 -> whether libmagic found the file
    to be text: a file of the message is read when it did, whatever the declared type (a
    `.log` sent as application/octet-stream is, a binary sent as text/plain is not); a
    file it did not see (one too large to decode) and every file when `files` is None
    (the cheap check) are judged by their declared type. The message's own text parts,
    and those of an attached message, are read by their type. `attached` collects the
    attached messages (their Subject is text too)."""
    kind = kind_of(msg)
    if msg.is_multipart():
        payload = msg.get_payload()
        inner = place
        if kind == "message/rfc822":
            inner = clean_filename(_filename(msg), ATTACHED) if place == TEXT else place
            if attached is not None:
                attached.extend(m for m in payload or [] if isinstance(m, Message))
        for child in payload if isinstance(payload, list) else []:
            if isinstance(child, Message):
                yield from leaves(child, files, inner, attached)
        return
    name = _filename(msg)
    file = place == TEXT and (name or str(msg.get("content-disposition") or "").lower()
                              .startswith("attachment"))
    if file:
        place = clean_filename(name, "attachment")
    if kind in SIGNATURE_TYPES:
        read = False
    elif not file or files is None:
        read = is_text(kind)
    else:
        data = decoded_payload(msg) or b""
        read = files.get(hashlib.sha256(data).hexdigest(), is_text(kind))
    yield Leaf(msg, kind, place, read)


def kind_of(part: Message) -> str:
    try:
        return part.get_content_type()
    except Exception:
        return "application/octet-stream"


def _filename(part: Message) -> str:
    """As attachments.py reads it: "" at once where no header could carry a name (the
    stdlib's parameter parsing is slow, and most parts are a message's own text)."""
    if part.get("content-disposition") is None \
            and "name" not in str(part.get("content-type") or "").lower():
        return ""
    try:
        return str(part.get_filename() or part.get_param("name") or "")
    except Exception:
        return ""


def decoded_payload(part: Message) -> bytes | None:
    try:
        data = part.get_payload(decode=True)
    except Exception:
        return None
    return data if isinstance(data, bytes) else None


def _codec(part: Message, data: bytes) -> str:
    """The codec the part's bytes are read and written back with: its declared charset,
    else UTF-16 by its byte order mark, else UTF-8 (undecodable bytes ride along as
    surrogate escapes, so unchanged text is written back byte for byte)."""
    try:
        declared = part.get_content_charset()
        if declared:
            return codecs.lookup(declared).name
    except (LookupError, ValueError, TypeError):
        pass
    return "utf-16" if data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) else "utf-8"


def part_text(part: Message) -> tuple[str, str] | None:
    """(text, codec) of a text leaf, or None when it has no readable payload."""
    data = decoded_payload(part)
    if data is None:
        return None
    codec = _codec(part, data)
    try:
        return data.decode(codec, "surrogateescape"), codec
    except (UnicodeError, LookupError):
        return data.decode("utf-8", "surrogateescape"), "utf-8"



def masked_part(text: str, kind: str, kinds: frozenset[str], to_text: Callable[[str], str],
                masker: Masker = mask) -> Masked:
    """A leaf's text masked. HTML is masked in its markup; when the text it shows still
    holds something (the markup split a number), the part becomes that text, masked."""
    result = masker(text, kinds, kind == "text/html")
    if kind == "text/html" and (result.kinds or masker(to_text(text), kinds, False).kinds):
        shown = masker(to_text(result.text), kinds, False)
        if shown.kinds:
            page = f"<!DOCTYPE html>\n<html><body><pre>{html.escape(shown.text)}</pre>"
            return Masked(page + "</body></html>\n", result.kinds | shown.kinds)
    return result


def header_texts(messages: list[Message]) -> Iterator[str]:
    """The decoded text fields of these messages."""
    for msg in messages:
        fields = Headers(msg)
        yield from (fields.text(name) for name in TEXT_HEADERS if name in msg)


def file_texts(mail: InboundMail, undeclared: bool = False) -> list[str]:
    """The text of the files libmagic found to be text (`undeclared`: only those declared
    as something else; a declared text file is one of the text parts)."""
    return [a.data.decode("utf-16" if a.data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
                          else "utf-8", "surrogateescape")
            for a in mail.attachments if a.data and is_text(a.detected_type)
            and not (undeclared and is_text(a.declared_type))]
