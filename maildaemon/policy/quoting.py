"""A reply's own text, told apart from the history it quotes.

Kept for its callers: the reply model (reply.py) reads the blocks, above, between and below
quotes, in the 20 languages of issue 17; `own_text` is its `own_text`. Before issue 17 this
cut at the first quoted line, which lost every answer written below or inside the quote.
The rules that act on a reply read ownwords.py; the two helpers here take a whole reply
and read its own words the same way (the "> line" context of inline answers left out).
"""

from __future__ import annotations

import re

from maildaemon.policy.reply import read_reply

CONFIRMATION = re.compile(
    r"^\s*(yes\b|yep\b|solved\b|resolved\b|fixed\b|works\b|it works\b|that worked\b|"
    r"close it\b|please close\b|you can close\b|thanks?,? that fixed it\b|"
    r"thank you,? that fixed it\b|problem solved\b|all good\b)",
    re.IGNORECASE,
)
RATING = re.compile(r"(?<![\d.])([1-5])(?!\d|\.\d)")


def own_text(text: str, *, forwarded: bool = False) -> str:
    """The customer's own blocks (inline answers with the quoted line they answer, "> "),
    signature left out. `forwarded`: the mail answers nothing (no In-Reply-To), so an
    Outlook header block in it starts a forwarded message, which is kept."""
    return read_reply(text, forwarded=forwarded).own_text


def _own_words(text: str) -> str:
    return "\n".join(line for line in own_text(text).split("\n") if not line.startswith(">"))


def confirms_solution(text: str) -> bool:
    """Does the reply's own first line confirm the solution ("yes", "solved", "thanks,
    that fixed it", "close it" ...)? Kept simple on purpose, and documented in the README."""
    first = next((line for line in _own_words(text).splitlines() if line.strip()), "")
    return bool(CONFIRMATION.match(first))


def rating_in(text: str) -> tuple[int, str] | None:
    """The first number 1-5 of the reply's own words, and the rest as a comment."""
    own = _own_words(text).strip()
    match = RATING.search(own)
    if match is None:
        return None
    comment = (own[:match.start()] + own[match.end():]).strip(" \n\t-:.,")
    return int(match.group(1)), comment
