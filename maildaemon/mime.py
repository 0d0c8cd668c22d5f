"""Assembles the messages we send: headers we control, text and HTML as quoted-printable.

The standard library's generators are correct but slow for this: `EmailMessage` cost 3 ms a
reply and the compat32 classes still 0.5 ms, most of it re-parsing and folding header values
we wrote ourselves. Our messages have one fixed shape (multipart/alternative, two UTF-8 text
parts), so we write that shape directly, let `binascii` do the quoted-printable encoding and
`email.header` encode non-ASCII words, and check the result against the standard parser in
the tests. Every header value is checked for CR, LF and NUL: nothing a customer wrote can add
a header.
"""

from __future__ import annotations

import binascii
import secrets
from collections.abc import Sequence
from urllib.parse import quote

MAX_LINE = 78


class HeaderInjection(ValueError):
    """A header value carried a line break: refused rather than sent."""


def clean(value: str) -> str:
    if any(ch in value for ch in "\r\n\0"):
        raise HeaderInjection(f"refusing header value {value[:60]!r}")
    return value


def text_header(name: str, value: str) -> str:
    """Free text (a subject): whitespace folded to single spaces, RFC 2047 if not ASCII."""
    value = " ".join(value.split())
    if value.isascii():
        return fold(name, value)
    return f"{name}: " + "\r\n ".join(encoded_words(value))


def encoded_words(value: str, max_bytes: int = 42) -> list[str]:
    """RFC 2047 base64 words of at most 42 UTF-8 bytes (68 characters encoded), never
    splitting a character. Linear in the length: `email.header.Header` searches for the best
    split and took 24 ms for one long spam subject."""
    data = value.encode("utf-8", "surrogatepass")
    words: list[str] = []
    start = 0
    while start < len(data):
        end = min(start + max_bytes, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:  # inside a character: back off
            end -= 1
        words.append(_word(data[start:end]))
        start = end
    return words


def _word(data: bytes) -> str:
    return "=?utf-8?b?" + binascii.b2a_base64(data, newline=False).decode("ascii") + "?="


def fold(name: str, value: str) -> str:
    """`Name: value`, folded at spaces so no line passes 78 characters where it can."""
    line = f"{name}: {clean(value)}"
    if len(line) <= MAX_LINE:
        return line
    out: list[str] = []
    current = ""
    for word in line.split(" "):
        if current and len(current) + 1 + len(word) > MAX_LINE:
            out.append(current)
            current = " " + word
        else:
            current = f"{current} {word}" if current else word
    out.append(current)
    return "\r\n".join(out)


def quoted_printable(text: str) -> str:
    body = text.replace("\r\n", "\n").encode("utf-8")
    return binascii.b2a_qp(body, quotetabs=False, istext=True).decode("ascii").replace(
        "\n", "\r\n")


def alternative(headers: Sequence[str], text: str, html: str,
                files: Sequence[tuple[str, str, bytes]] = ()) -> bytes:
    """A complete message with CRLF line ends, ready for SMTP: multipart/alternative (text
    and HTML), wrapped in multipart/mixed with the `files` (name, type, bytes) if any."""
    boundary = "=_md_" + secrets.token_hex(12)
    body = [f'Content-Type: multipart/alternative; boundary="{boundary}"', ""]
    for subtype, content in (("plain", text), ("html", html)):
        body += [f"--{boundary}", f'Content-Type: text/{subtype}; charset="utf-8"',
                 "Content-Transfer-Encoding: quoted-printable", "", quoted_printable(content)]
    body += [f"--{boundary}--", ""]
    if files:
        outer = "=_md_" + secrets.token_hex(12)
        mixed = [f'Content-Type: multipart/mixed; boundary="{outer}"', "", f"--{outer}",
                 *body]
        for name, kind, data in files:
            encoded = binascii.b2a_base64(data, newline=False).decode("ascii")
            mixed += [f"--{outer}", f"Content-Type: {clean(kind)}",
                      "Content-Transfer-Encoding: base64",
                      f"Content-Disposition: attachment; {filename_param(name)}", "",
                      *(encoded[i:i + 76] for i in range(0, len(encoded), 76)), ""]
        body = [*mixed, f"--{outer}--", ""]
    return "\r\n".join([*headers, "MIME-Version: 1.0", *body]).encode("utf-8")


def filename_param(name: str) -> str:
    """`filename="..."`, or RFC 2231's `filename*=utf-8''...` for a non-ASCII name."""
    name = clean(name).replace("\\", "").replace('"', "")
    if name.isascii():
        return f'filename="{name}"'
    return "filename*=utf-8''" + quote(name, safe="")
