"""How much of a sender's text we echo back (which strings we may send to: mailbox.py).

A From or Cc field can be broken in ways no mail client would write and the parser must
still read something out of it: `=?utf-8?q?j=c3=b6rg?=@example.org` (an encoded word where
the address belongs), `a b@c.d`, a display name cut in two. Such a string is stored as the
message's sender, but nothing is ever sent to it: a relay either refuses it or, worse,
delivers it somewhere nobody meant.
"""

from __future__ import annotations


def shorten(text: str, limit: int) -> str:
    """At most `limit` characters, an ellipsis marking a cut."""
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def bounded_list(items: list[str], limit: int) -> list[str]:
    """The first `limit` items, then one line saying how many more there were."""
    if len(items) <= limit:
        return items
    return [*items[:limit], f"and {len(items) - limit:,} more"]
