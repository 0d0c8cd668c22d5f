"""Which strings we may send mail to, and how much of a sender's text we echo back.

A From or Cc field can be broken in ways no mail client would write and the parser must
still read something out of it: `=?utf-8?q?j=c3=b6rg?=@example.org` (an encoded word where
the address belongs), `a b@c.d`, a display name cut in two. Such a string is stored as the
message's sender, but nothing is ever sent to it: a relay either refuses it or, worse,
delivers it somewhere nobody meant.
"""

from __future__ import annotations

import re

# RFC 5322 atext plus RFC 6531's UTF-8 (a relay with SMTPUTF8 delivers `jörg@example.org`);
# no C1 controls, no surrogates (undecodable bytes). The same classes as mailbox.py, which
# the sender checks again before it talks to the relay (policy/ may not import it).
_UTF8 = "\u00a0-\ud7ff\ue000-\U0010ffff"
_ATEXT = rf"[A-Za-z0-9!#$%&'*+\-/=?^_`{{|}}~{_UTF8}]"
_LOCAL = rf"(?:{_ATEXT}+(?:\.{_ATEXT}+)*|\"[\x20\x21\x23-\x5b\x5d-\x7e]{{1,62}}\")"
_LABEL = r"[^\W_](?:(?:[^\W_]|-){0,61}[^\W_])?"
_DOMAIN = rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9A-Fa-f.:IPv]{{2,45}}\])"
MAILABLE = re.compile(rf"{_LOCAL}@{_DOMAIN}")
ENCODED_WORD = re.compile(r"=\?[^?\s]*\?[bBqQ]\?[^?\s]*\?=")
MAX_ADDRESS = 254  # RFC 5321's path limit, less the angle brackets
MAX_LOCAL = 64


def is_mailable(address: str) -> bool:
    """A syntactically deliverable address: one mailbox, no encoded word, within SMTP's
    lengths. Deliberately strict: a false "no" costs one unanswered mail, a false "yes"
    costs mail sent to a stranger or lost at the relay."""
    if not address or len(address) > MAX_ADDRESS or not MAILABLE.fullmatch(address):
        return False
    return len(address.rpartition("@")[0]) <= MAX_LOCAL and not ENCODED_WORD.search(address)


def shorten(text: str, limit: int) -> str:
    """At most `limit` characters, an ellipsis marking a cut."""
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def bounded_list(items: list[str], limit: int) -> list[str]:
    """The first `limit` items, then one line saying how many more there were."""
    if len(items) <= limit:
        return items
    return [*items[:limit], f"and {len(items) - limit:,} more"]
