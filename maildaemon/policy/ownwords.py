"""What the rules read of a reply: the sender's own words, never the history it quotes.

parse.py gives every message its own text (InboundMail.own_text, from the reply model):
the own blocks in order, wherever they were written (above, between or below quotes), the
signature left out. An inline answer's blocks each start with the quoted line they answer,
written "> line", so that an agent reads "Yes" next to the question it answers. Those lines
are ours or the customer's history, not what was said this time: quoted "Did that solve
it?" must not confirm anything, quoted "Rate us 1-5" is no rating of 1, and a staff answer
relayed to the customer must carry no quoted customer line. So every rule that acts on a
reply reads `own_words`: the own text without its ">" lines.
"""

from __future__ import annotations

import re

from maildaemon.policy.signatures import signature_start

# "Yes" and "solved" as customers write them first, in the languages of issue 17.
CONFIRMATION = re.compile(
    r"(?:yes\b|yep\b|solved\b|resolved\b|fixed\b|works\b|it works\b|that worked\b|"
    r"close it\b|please close\b|you can close\b|thanks?,? that fixed it\b|"
    r"thank you,? that fixed it\b|problem solved\b|all good\b"
    r"|ja\b|oui\b|sí\b|sì\b|sim\b|tak\b|ano\b|kyllä\b|да\b|так\b|evet\b|vâng\b"
    r"|はい|是的|네\b)",
    re.IGNORECASE,
)
RATING = re.compile(r"(?<![\d.])([1-5])(?!\d|\.\d)")
# A quoted line, with its line break: ">" after nothing but spaces. Tried at line starts
# only, so a megabyte of spaces or ">" is one linear pass.
# Characters at the end of a text where a signature is looked for: a sign-off and the
# four lines under it, each at most 120 characters (signatures.py).
SIGNATURE_TAIL = 720
QUOTED_LINE = re.compile(r"^[^\S\n]*>[^\n]*(?:\n|\Z)", re.MULTILINE)


def own_words(own_text: str) -> str:
    """The own text without the quoted lines an inline answer carries for context (and
    without any ">" line the reply model left in: it is quoted, whoever wrote it)."""
    text = own_text.replace("\r\n", "\n")
    return (QUOTED_LINE.sub("", text) if ">" in text else text).strip()


def confirms_solution(own_text: str) -> bool:
    """Does the first line of the reply's own words confirm the solution ("yes",
    "solved", "that fixed it", "ja", "oui" ...)? Kept simple on purpose, and documented in
    the README: a wrong close is undone by the customer's next reply (reopen_days)."""
    words = own_words(own_text)
    first = words.split("\n", 1)[0]  # `own_words` starts with a character, not a space
    return bool(CONFIRMATION.match(first.strip()))


def rating_in(own_text: str) -> tuple[int, str] | None:
    """The first number 1-5 of the reply's own words, and the rest as a comment."""
    words = own_words(own_text)
    match = RATING.search(words)
    if match is None:
        return None
    comment = (words[:match.start()] + words[match.end():]).strip(" \n\t-:.,")
    return int(match.group(1)), comment


def customer_words(own_text: str) -> str:
    """What the customer wrote this time and nothing else: their own words (no quoted
    line) without a signature (policy/signatures.py: a "-- " line, a sign-off with a name
    under it, "Sent from my iPhone"). The new-ticket rules read this (priorityrules.py,
    bugreport.py): a "data loss" in a signature's slogan or a quoted reply is not the
    customer saying it. The reply model has left the signature out already; this cuts one
    it left in, looking at the last lines only (a signature is at the end)."""
    words = own_words(own_text)
    cut = words.rfind("\n", 0, max(0, len(words) - SIGNATURE_TAIL))
    head, tail = (words[:cut + 1], words[cut + 1:]) if cut >= 0 else ("", words)
    lines = tail.split("\n")
    start = signature_start(lines)
    return (head + "\n".join(lines if start is None else lines[:start])).strip()
