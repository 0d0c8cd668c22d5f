"""The masked copy of a received message: its bytes changed only where something was found.

The body of each text part that held something is decoded, masked and encoded again in
its own transfer encoding and charset, then put back at the very place its old bytes
stood; the value of a Subject, Thread-Topic, Comments or Keywords field that held
something is written anew (RFC 2047 where it is not ASCII). Every other byte stays as
received: the other parts, the files, the other fields. A part whose bytes cannot be
found as the parser read them (a broken structure) makes the whole message be written
anew by the standard library's generator, each field as it came, that part in base64.
An `X-Maildaemon-Masked:` field, first, names the kinds.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from collections.abc import Callable
from email.generator import BytesGenerator
from email.message import Message

from maildaemon.attachments import VERBATIM
from maildaemon.domain import Removed
from maildaemon.headers import RAW_8BIT, decode_bytes, decode_words, header_charsets
from maildaemon.mime import encoded_words
from maildaemon.policy.sensitive import KINDS, mask, names
from maildaemon.textparts import (
    SUBJECT,
    Masker,
    leaves,
    masked_part,
    part_text,
)

ATTACHED_SUBJECT = "an attached message's subject"
FILE_NAME = "a file's name"
HEADER_FIELD = re.compile(rb"(?im)^(subject|thread-topic|comments|keywords)([ \t]*:)"
                          rb"([^\r\n]*(?:\r?\n[ \t][^\r\n]*)*)")
# A file's name in the fields that carry one: `name=` and `filename=` only (never the
# boundary, which the body repeats), quoted (folded over lines, as Outlook does with long
# encoded words) or not. Encoded words are decoded; an RFC 2231 value is read as it
# stands (its `%20` is no separator).
NAME_FIELD = re.compile(rb"(?im)^(content-(?:type|disposition)[ \t]*:"
                        rb"[^\r\n]*(?:\r?\n[ \t][^\r\n]*)*)")
NAME_PARAM = re.compile(rb'(?i)(\b(?:file)?name\*?[ \t]*=[ \t]*)("[^"]*"|[^";\s][^;\s]*)')


def _raw_payload(part: Message) -> bytes | None:
    """The part's body exactly as it stands in the raw message. The parser (compat32)
    keeps it in `_payload`, 8-bit bytes as surrogate escapes; `get_payload()` would give
    a quoted-printable body with 8-bit bytes in it back decoded, with replacements."""
    payload = getattr(part, "_payload", None)
    if not isinstance(payload, str):
        return None
    try:
        return payload.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:  # set by code, not by the parser
        return None


def _body_at(raw: bytes, body: bytes, start: int) -> int:
    """Where `body` stands as a part's body from `start` on: right after a blank line, so
    never in a header that happens to hold the same bytes (an attached message's Subject
    can be its text); else, for a body after a header block that a broken line ended,
    its one place from `start`; -1 when there is none, or more than one."""
    if not body:
        return -1  # nothing to find, nothing to change
    first = at = raw.find(body, start)
    while at >= 0:  # bounded: each round searches after the last
        if raw[max(0, at - 2):at] == b"\n\n" or raw[max(0, at - 3):at] == b"\n\r\n":
            return at
        at = raw.find(body, at + 1)
    return first if first >= 0 and raw.find(body, first + 1) < 0 else -1


def _encoded(part: Message, data: bytes, old: bytes) -> bytes | None:
    """`data` in the part's transfer encoding, shaped like `old`, read as the parser reads
    it (compat32 decodes exactly "base64" and "quoted-printable", any case; "7-bit",
    "8bits" or "base64 " are taken as they stand); None for uuencode, which the
    regenerated copy writes in base64 instead."""
    cte = str(part.get("content-transfer-encoding", "")).lower()
    newline = b"\r\n" if b"\r\n" in old else b"\n"
    if cte == "quoted-printable":  # its line breaks are the text's own: as they were
        return binascii.b2a_qp(data.replace(b"\r\n", b"\n"), istext=True).replace(
            b"\n", newline)
    if cte == "base64":
        body = base64.encodebytes(data).rstrip(b"\n").replace(b"\n", newline)
        return body + newline if old.endswith(b"\n") else body
    if cte in ("x-uuencode", "uuencode", "uue", "x-uue"):
        return None
    return data


def _header_fields(raw: bytes, kinds: frozenset[str], top_end: int, masker: Masker,
                   hints: tuple[str, ...]) -> tuple[bytes, set[str], list[str]]:
    """The text fields masked where they hold something (`hints`: the charsets to read
    undeclared 8-bit bytes with, as headers.py does)."""
    found: set[str] = set()
    places: list[str] = []
    newline = b"\r\n" if b"\r\n" in raw[:top_end + 2] else b"\n"

    def field(match: re.Match[bytes]) -> bytes:
        value = match.group(3).decode("ascii", "surrogateescape")
        plain = "=?" not in value and not RAW_8BIT.search(value)
        if plain:  # masked where it stands, its folding and spacing kept
            result = masker(value, kinds, False)
        else:  # encoded words or 8-bit bytes: decoded, masked, written anew
            if RAW_8BIT.search(value):
                value = decode_bytes(value.encode("ascii", "surrogateescape"), "utf-8",
                                     *hints)
            result = masker(decode_words(value), kinds, False)
        if not result.kinds:
            return match.group(0)
        found.update(result.kinds)
        places.append(SUBJECT if match.start() < top_end else ATTACHED_SUBJECT)
        text = result.text
        if plain:
            return match.group(1) + match.group(2) + text.encode("ascii", "surrogateescape")
        written = text.encode("ascii") if text.isascii() else \
            (newline + b" ").join(w.encode("ascii") for w in encoded_words(text))
        return match.group(1) + match.group(2) + b" " + written

    def name(match: re.Match[bytes]) -> bytes:
        value = match.group(2).decode("ascii", "surrogateescape")
        words = "=?" in value  # RFC 2047 in quotes, as most mailers write a name
        result = masker(decode_words(value.strip('"')) if words else value, kinds, False)
        if not result.kinds:
            return match.group(0)
        found.update(result.kinds)
        places.append(FILE_NAME)
        text = result.text
        if words:
            text = '"' + (text if text.isascii() else " ".join(encoded_words(text))) + '"'
        return match.group(1) + text.encode("ascii", "surrogateescape")

    def names_in(match: re.Match[bytes]) -> bytes:
        return NAME_PARAM.sub(name, match.group(1))

    return NAME_FIELD.sub(names_in, HEADER_FIELD.sub(field, raw)), found, places


def rewrite(raw: bytes, msg: Message, kinds: frozenset[str], files: dict[str, bool],
            to_text: Callable[[str], str], masker: Masker = mask
            ) -> tuple[bytes, Removed] | None:
    """The raw message with everything of `kinds` masked, and what was; None when
    nothing was found after all. `masker`: policy/sensitive.py's rules (a test passes
    its own, to change every text of real mail and see nothing else change)."""
    hints = header_charsets(msg)
    found: set[str] = set()
    places: dict[str, None] = {}
    splices: list[tuple[int, int, bytes]] = []
    cursor, lost = 0, False
    for part, kind, place, read in leaves(msg, files):
        old = _raw_payload(part)
        at = _body_at(raw, old, cursor) if old is not None else -1
        if at >= 0:
            cursor = at + len(old or b"")
        decoded = part_text(part) if read else None
        if decoded is None:
            continue
        result = masked_part(decoded[0], kind, kinds, to_text, masker)
        if not result.kinds:
            continue
        found |= result.kinds
        places[masker(place, kinds, False).text] = None  # a name is data: masked too
        try:
            data = result.text.encode(decoded[1], "surrogateescape")
        except UnicodeEncodeError:  # an HTML part replaced by its text: any letter in it
            data = result.text.encode(decoded[1], "xmlcharrefreplace")
        new = _encoded(part, data, old) if old is not None else None
        if new is None or at < 0:
            lost = True
            _set_base64(part, data)
        else:
            splices.append((at, at + len(old or b""), new))
            part.set_payload(new.decode("ascii", "surrogateescape"))
    if lost:  # a part we could not find in the bytes: the whole message is written anew
        out = io.BytesIO()
        BytesGenerator(out, mangle_from_=False, policy=VERBATIM).flatten(msg)
        raw = out.getvalue()
    else:
        for start, end, new in reversed(splices):
            raw = raw[:start] + new + raw[end:]
    raw, in_headers, header_places = _header_fields(raw, kinds, _header_end(raw), masker,
                                                    hints)
    found |= in_headers
    if not found:
        return None
    ordered = tuple(kind for kind in KINDS if kind in found)
    where = tuple(dict.fromkeys([*header_places, *places]))
    if len(where) > 1:  # an attached message's subject is named by its file, if any
        where = tuple(p for p in where if p != ATTACHED_SUBJECT) or where
    return _marked(raw, ordered), Removed(kinds=ordered, places=where)


def _marked(raw: bytes, kinds: tuple[str, ...]) -> bytes:
    """`X-Maildaemon-Masked:` first, or after an mbox "From " line, which the parser reads
    only as the very first line (and which a field before it would turn into a field)."""
    at = raw.find(b"\n") + 1 if raw.startswith(b"From ") else 0
    newline = b"\r\n" if b"\r\n" in raw[:200] else b"\n"
    return (raw[:at] + b"X-Maildaemon-Masked: " + ", ".join(names(kinds)).encode("ascii")
            + b" (masked before this copy was kept)" + newline + raw[at:])


def _header_end(raw: bytes) -> int:
    """Where the top header block ends: at its blank line (the header block was repaired
    to have one, see parse.read_message)."""
    return min((i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i >= 0),
               default=len(raw))


def _set_base64(part: Message, data: bytes) -> None:
    del part["content-transfer-encoding"]
    part["Content-Transfer-Encoding"] = "base64"
    part.set_payload(base64.encodebytes(data).decode("ascii"))


