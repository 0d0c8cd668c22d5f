"""Header fields of a received message, decoded one by one so a broken one costs only itself.

Real mail breaks every rule: undeclared 8-bit bytes in names and subjects, unknown charsets
in encoded words, two From fields, continuation lines that lost their indent, junk before
the first header. Each reader here has its own fallback and never raises.
"""

from __future__ import annotations

import re
from email.header import decode_header
from email.message import Message
from email.utils import getaddresses, unquote

from maildaemon.mailbox import decode_encoded_local_part
from maildaemon.policy.mailbox import is_mailbox

FALLBACK_CHARSETS = ("utf-8", "cp1252")
RAW_8BIT = re.compile("[\udc80-\udcff]")  # undeclared 8-bit bytes, as the parser keeps them
HEADER_LINE = re.compile(rb"^[\x21-\x39\x3b-\x7e]+[ \t]*:")
# A plain mailbox: `local@domain` of dot-atoms, alone or after a display name of words that
# need no quoting. Whitespace and word characters as the stdlib's address parser sees them.
_ATOM = r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+"
DOT_ATOM = rf"{_ATOM}(?:\.{_ATOM})*"  # ASCII only; also the SMTP edge's plain paths
_ADDR = rf"{DOT_ATOM}@{DOT_ATOM}"
_WS = r"[ \t\r\n]*"
_WORD = r'[^ \t\r\n()<>@,:;"\[\]\\]+'
PLAIN_MAILBOX = re.compile(
    rf"{_WS}(?:((?:{_WORD}[ \t\r\n]+)*{_WORD}){_WS}<({_ADDR})>|({_ADDR})){_WS}")
WS_RUN = re.compile(r"[ \t\r\n]+")
# `anything <addr>`: one angle address after a display name however broken (an encoded word
# cut off, a lone quote, a comma or an address of its own in it). The address in angle
# brackets is the mailbox: that is the part every mail client writes the same way.
ONE_ANGLE_ADDR = re.compile(r"[ \t\r\n]*([^<>]*?)[ \t\r\n]*<[ \t]*([^<>\s]+@[^<>\s]+)[ \t]*>"
                            r"[ \t\r\n]*")


def plain_addresses(value: str) -> list[tuple[str, str]] | None:
    """What `getaddresses([value])` returns, read directly when every mailbox in the list is
    plain (most are); None for anything else: comments, quoted names, groups, routes.

    getaddresses walks the field a character at a time in Python: with two or three
    address fields per message it was a tenth of the worker's parsing time.
    """
    pairs: list[tuple[str, str]] = []
    pos = 0
    while True:
        found = PLAIN_MAILBOX.match(value, pos)
        if found is None:
            return None
        if found.group(3):
            pairs.append(("", found.group(3)))
        else:
            pairs.append((WS_RUN.sub(" ", found.group(1)), found.group(2)))
        pos = found.end()
        if pos == len(value):
            return pairs
        if value[pos] != ",":
            return None
        pos += 1


def decode_bytes(data: bytes, *charsets: str | None) -> str:
    """The first of `charsets`, UTF-8 or cp1252 that decodes the bytes; else latin-1."""
    for candidate in (*charsets, *FALLBACK_CHARSETS):
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
    out = [chunk if isinstance(chunk, str) else decode_bytes(chunk, charset)
           for chunk, charset in parts]
    return " ".join("".join(out).split())


MULTIBYTE = re.compile(r"gb|big5|jis|euc|2022|cp9[345]|ks_c|hz|utf", re.IGNORECASE)


def header_charsets(msg: Message) -> tuple[str, ...]:
    """Guesses for undeclared 8-bit bytes in headers, best first: the charsets the message
    declares for its body parts (the same mailer wrote both), multi-byte ones before
    single-byte ones, because a single-byte charset decodes anything and proves nothing."""
    try:
        declared = [str(c) for c in msg.get_charsets() if c and c != "us-ascii"]
    except Exception:
        return ()
    unique = list(dict.fromkeys(declared))
    return (*[c for c in unique if MULTIBYTE.search(c)],
            *[c for c in unique if not MULTIBYTE.search(c)])


def repair_header_block(raw: bytes) -> bytes:
    """Bytes the parser can read when the header block is broken (used only after the
    parser reported a missing header/body separator).

    Junk lines before the first field are dropped; a line that is neither a field nor
    indented, but is followed by more fields, lost its indent and joins the field above;
    where fields stop for good, a blank line is put in.
    """
    end = len(raw)
    for separator in (b"\r\n\r\n", b"\n\n"):
        found = raw.find(separator)
        if 0 <= found < end:
            end = found
    lines = raw[:end].split(b"\n")
    fields = [i for i, line in enumerate(lines) if HEADER_LINE.match(line)]
    if not fields:
        return raw
    first, last = fields[0], fields[-1]
    keep = lines[:1] if lines[0].startswith(b"From ") else []
    out = list(keep)
    for i in range(max(first, len(keep)), len(lines)):
        line = lines[i]
        if HEADER_LINE.match(line) or line[:1] in (b" ", b"\t"):
            out.append(line)
        elif i < last:
            out.append(b" " + line)
        else:
            out.append(b"\r" if line.endswith(b"\r") else b"")
            out.extend(lines[i:])
            return b"\n".join(out) + raw[end:]
    return b"\n".join(out) + raw[end:]


class Headers:
    def __init__(self, msg: Message) -> None:
        self.msg = msg
        self._hints: tuple[str, ...] | None = None
        self._index: dict[str, list[str]] | None = None

    @property
    def hints(self) -> tuple[str, ...]:
        """Computed only for a message that has raw 8-bit header bytes (it walks every part)."""
        if self._hints is None:
            self._hints = header_charsets(self.msg)
        return self._hints

    def values(self, name: str) -> list[str]:
        """Every value of a field; undeclared 8-bit bytes decoded by the best guess.

        Read through `raw_items` because compat32's `get` turns undeclared 8-bit bytes into
        replacement characters, losing every non-ASCII letter of a name or subject.
        """
        if self._index is None:
            self._index = {}
            try:
                for key, value in self.msg.raw_items():
                    self._index.setdefault(key.lower(), []).append(str(value))
            except Exception:
                pass
        values = []
        for text in self._index.get(name, ()):
            if RAW_8BIT.search(text):
                data = text.encode("ascii", "surrogateescape")
                text = decode_bytes(data, "utf-8", *self.hints)
            values.append(text)
        return values

    def first(self, name: str) -> str:
        values = self.values(name)
        return " ".join(values[0].split()) if values else ""

    def text(self, name: str) -> str:
        return decode_words(self.first(name))

    def address_pairs(self, name: str) -> list[tuple[str, str]]:
        values = self.values(name)
        try:
            pairs = plain_addresses(", ".join(values)) if values else []
            if pairs is None:
                pairs = getaddresses(values)
        except Exception:
            return []
        # An encoded word in an address is what a mailer without SMTPUTF8 made of a UTF-8
        # local part (decoded before lower-casing: base64 is case-sensitive).
        return [(decode_words(display), _address(addr)) for display, addr in pairs if "@" in addr]

    def addresses(self, name: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys(addr for _, addr in self.address_pairs(name)))

    def sender(self) -> tuple[str, str]:
        """Display name and address of the first From mailbox we could send mail to (a
        second From field, or a second address in one, rescues a broken first).

        Plain fields (most) are read as they are. A broken one is read mailbox-first: with
        `=?utf-8?q?M=C3=BCller,_Hans?= <hans@example.org>` the address parser sees two
        mailboxes and the display name's halves as addresses. When no mailable address is
        found at all, the first thing that looked like one is returned: it is stored as the
        sender, and the policy sends nothing to it (policy/addresses.py).
        """
        values = self.values("from")
        try:
            plain = plain_addresses(", ".join(values)) if values else None
        except Exception:
            plain = None
        if plain:
            display, addr = plain[0]
            return decode_words(display), _address(addr)
        for value in values:
            found = _mailable_mailbox(value)
            if found is not None:
                return found
        pairs = self.address_pairs("from")
        return pairs[0] if pairs else ("", "")

    def envelope_sender(self) -> str | None:
        """Return-Path, as an MTA pipe transport records the envelope: "" for `<>`."""
        if "return-path" not in self.msg:
            return None
        pairs = self.address_pairs("return-path")
        if pairs:
            return pairs[0][1]
        # Only `<>` is null: a bare local part ("Return-Path: hermes", old Eudora and
        # local delivery) is a sender without a domain, not a bounce.
        value = self.first("return-path").strip()
        return "" if value.strip("<> ") == "" else value


def _mailable_mailbox(value: str) -> tuple[str, str] | None:
    """The display name and address of the first mailable mailbox in one From field."""
    one = ONE_ANGLE_ADDR.fullmatch(value) if "<" in value else None
    if one is not None and is_mailbox(_address(one.group(2))):
        return decode_words(unquote(one.group(1))), _address(one.group(2))
    try:
        pairs = getaddresses([value])
    except Exception:
        return None
    for display, addr in pairs:
        if is_mailbox(_address(addr)):
            return decode_words(display), _address(addr)
    return None


def _address(addr: str) -> str:
    # decoded before lower-casing: base64 is case-sensitive (see mailbox.py)
    return decode_encoded_local_part(addr.strip()).lower()
