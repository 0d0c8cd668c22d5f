"""Encoded words where an address belongs, read back as the mailer meant them."""

from __future__ import annotations

from email.header import decode_header

from maildaemon.policy.mailbox import ENCODED_WORD, is_mailbox


def decode_encoded_local_part(address: str) -> str:
    """`=?utf-8?q?j=C3=B6rg?=@example.org` as the mailer meant it: `jörg@example.org`.

    Python's email generator (and others) write a non-ASCII local part as an encoded word
    when the message is not sent with SMTPUTF8; the standard library's own parser decodes it
    again. Only a local part that is nothing but encoded words is decoded, and only when the
    result is a valid mailbox; anything else is returned unchanged (and is then refused as
    an address by `mailbox_problem`).
    """
    local, at, domain = address.rpartition("@")
    if not at or "=?" not in local or ENCODED_WORD.sub("", local):
        return address
    try:
        parts = decode_header(local)
        decoded = "".join(
            chunk.decode(charset or "ascii") if isinstance(chunk, bytes) else chunk
            for chunk, charset in parts)
    except (LookupError, UnicodeDecodeError, ValueError):
        return address
    candidate = f"{decoded}@{domain}"
    return candidate if is_mailbox(candidate) else address
