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

# One pass over the text for the first line that starts quoted history (a loop over the
# lines with a pattern each cost the worker a tenth of its time on a 50-line message). Each
# alternative starts at a line start; [^\S\n] is whitespace within a line, as `strip()` sees it.
_SP = r"[^\S\n]*"
HISTORY_START = re.compile(
    rf"^{_SP}(?:"
    r">"  # a quoted line
    r"|(?:on\b.*\bwrote:|am\b.*\bschrieb\b.*:|le\b.*\ba écrit[^\S\n]*:|el\b.*\bescribió:"
    rf"|op\b.*\bschreef\b.*:){_SP}$"  # "On ..., Alice wrote:" and its translations
    rf"|-{{2,}}{_SP}(?:original message|ursprüngliche nachricht|message d'origine)"
    rf"{_SP}-{{2,}}{_SP}$"  # Outlook's and Lotus's separator
    rf"|(?:from|von|de){_SP}:{_SP}\S.*\n{_SP}(?:sent|gesendet|envoyé|date){_SP}:{_SP}\S"
    r")",  # Outlook's header block: a From line, then a Sent line
    re.IGNORECASE | re.MULTILINE,
)
CONFIRMATION = re.compile(
    r"^\s*(yes\b|yep\b|solved\b|resolved\b|fixed\b|works\b|it works\b|that worked\b|"
    r"close it\b|please close\b|you can close\b|thanks?,? that fixed it\b|"
    r"thank you,? that fixed it\b|problem solved\b|all good\b)",
    re.IGNORECASE,
)
RATING = re.compile(r"(?<![\d.])([1-5])(?!\d|\.\d)")


def own_text(text: str) -> str:
    lines = text.replace("\r\n", "\n")
    found = HISTORY_START.search(lines)
    return lines[:found.start()].strip() if found else text.strip()


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
