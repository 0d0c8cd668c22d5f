"""What may stand in an SMTP envelope: RFC 5321 mailboxes, with RFC 6531's UTF-8 additions.

We never hand a relay a string that is not an address. A parser's leftovers (a display name
read as a second mailbox, an RFC 2047 encoded word that a mailer wrote into an address) are
not addresses: delivering "to" them either fails at the relay or, worse, is accepted and lost
while our outbox says sent. Pure functions, no I/O: the store checks at enqueue time and the
sender again before each conversation (rows written by older versions were never checked),
and the decisions never make a requester or participant of a string that fails it. Strict
on purpose: a false "no" costs one unanswered mail, a false "yes" costs mail sent to a
stranger or lost at the relay.
"""

from __future__ import annotations

import ipaddress
import re

MAX_LOCAL_OCTETS = 64  # RFC 5321 4.5.3.1.1
MAX_MAILBOX_OCTETS = 254  # a 256-octet path less its angle brackets

# atext (RFC 5322) plus any non-ASCII letter (RFC 6531 UTF8-non-ascii); surrogates, which
# stand for undecodable bytes, and C1 controls are not letters.
_ATEXT = "A-Za-z0-9!#$%&'*+\\-/=?^_`{|}~\u00a0-\ud7ff\ue000-\U0010ffff"
_DOT_STRING = re.compile(rf"[{_ATEXT}]+(?:\.[{_ATEXT}]+)*")
# qtextSMTP and quoted-pairSMTP, with non-ASCII letters allowed in qtext.
_QUOTED_STRING = re.compile(r'"(?:[ !#-\[\]-~\u00a0-\ud7ff\ue000-\U0010ffff]|\\[ -~])*"')
# A sub-domain: letters and digits (a U-label's too), hyphens inside, at most 63 characters.
_LABEL = re.compile(r"[^\W_](?:(?:[^\W_]|-){0,61}[^\W_])?")
ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")


def mailbox_problem(address: str) -> str | None:
    """Why `address` is not a mailbox we may send to, in words for `outbox ls`; None if it is."""
    if not address:
        return "empty address"
    if not address.isprintable():
        return f"not a valid address: {address!r}"
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        return f"not a valid address (no local part@domain): {address!r}"
    if ENCODED_WORD.search(local):
        return f"an RFC 2047 encoded word is not an address: {address!r}"
    if len(local.encode("utf-8")) > MAX_LOCAL_OCTETS or \
            len(address.encode("utf-8")) > MAX_MAILBOX_OCTETS:
        return f"address too long: {address[:80]!r}"
    if not (_DOT_STRING.fullmatch(local) or _QUOTED_STRING.fullmatch(local)):
        return f"not a valid address (local part): {address!r}"
    if not _valid_domain(domain):
        return f"not a valid address (domain): {address!r}"
    return None


def is_mailbox(address: str) -> bool:
    return mailbox_problem(address) is None


def needs_smtputf8(address: str) -> bool:
    """A UTF-8 address can only travel with the relay's SMTPUTF8 extension (RFC 6531)."""
    return not address.isascii()


def _valid_domain(domain: str) -> bool:
    if domain.startswith("[") and domain.endswith("]"):
        literal = domain[1:-1]
        if literal[:5].lower() == "ipv6:":
            literal = literal[5:]
        elif ":" in literal:
            return False
        try:
            ipaddress.ip_address(literal)
        except ValueError:
            return False
        return True
    return all(_LABEL.fullmatch(label) for label in domain.split("."))
