"""A reply's own text, told apart from the history it quotes.

Cut at the first line that starts quoted history, whichever mailer wrote it:
    "> ..."                                    quoted lines (most mailers)
    "On Mon, 5 Jan 2026, Alice wrote:"         Gmail, Apple Mail, Thunderbird (also
                                               "Am ... schrieb ...:", "Le ... a écrit :")
    "-----Original Message-----"               Outlook, Lotus
    "From: ..." followed by "Sent: ..."        Outlook's header block
The full text is always kept too; this only decides what the customer said this time.
"""

from __future__ import annotations

import re

WROTE = re.compile(
    r"^(on\b.*\bwrote:|am\b.*\bschrieb\b.*:|le\b.*\ba écrit\s*:|el\b.*\bescribió:|"
    r"op\b.*\bschreef\b.*:)\s*$",
    re.IGNORECASE,
)
ORIGINAL = re.compile(r"^-{2,}\s*(original message|ursprüngliche nachricht|message d'origine)"
                      r"\s*-{2,}\s*$", re.IGNORECASE)
OUTLOOK_FROM = re.compile(r"^(from|von|de)\s*:\s*\S", re.IGNORECASE)
OUTLOOK_SENT = re.compile(r"^(sent|gesendet|envoyé|date)\s*:\s*\S", re.IGNORECASE)
CONFIRMATION = re.compile(
    r"^\s*(yes\b|yep\b|solved\b|resolved\b|fixed\b|works\b|it works\b|that worked\b|"
    r"close it\b|please close\b|you can close\b|thanks?,? that fixed it\b|"
    r"thank you,? that fixed it\b|problem solved\b|all good\b)",
    re.IGNORECASE,
)
RATING = re.compile(r"(?<![\d.])([1-5])(?!\d|\.\d)")


def own_text(text: str) -> str:
    lines = text.replace("\r\n", "\n").split("\n")
    for index, line in enumerate(lines):
        stripped = line.strip()
        next_line = lines[index + 1].strip() if index + 1 < len(lines) else ""
        if (stripped.startswith(">") or WROTE.match(stripped) or ORIGINAL.match(stripped)
                or (OUTLOOK_FROM.match(stripped) and OUTLOOK_SENT.match(next_line))):
            return "\n".join(lines[:index]).strip()
    return text.strip()


def confirms_solution(text: str) -> bool:
    """Does the reply's own first line confirm the solution ("yes", "solved", "thanks,
    that fixed it", "close it" ...)? Kept simple on purpose, and documented in the README."""
    own = own_text(text)
    first = next((line for line in own.splitlines() if line.strip()), "")
    return bool(CONFIRMATION.match(first))


def rating_in(text: str) -> tuple[int, str] | None:
    """The first number 1-5 of the reply's own text, and the rest as a comment."""
    own = own_text(text)
    match = RATING.search(own)
    if match is None:
        return None
    comment = (own[:match.start()] + own[match.end():]).strip(" \n\t-:.,")
    return int(match.group(1)), comment
