"""An agent's own text in their reply to a team notification: what may reach the customer.

quoting.py cuts the history a reply quotes at the lines mailers mark it with; many mailers
mark it in ways it does not know (Outlook's bold "*From:*" block, GMX's spaced header
lines, Yahoo's indented "Am ... hat ... geschrieben:"), and then the notification would
go on to the customer under the agent's answer. So the notification starts with a marker
line (MARKER, in templates/team_notification.*), and the agent's text is cut at it,
wherever it ended up and however it was quoted; the head of the quote left above it (a
header block, a separator, an attribution line, even wrapped) is cut too. Then the
signature, and any reply address of ours: the agent's tag is theirs, never the customer's.
"""

from __future__ import annotations

import re

# The notification's first line; its quoted copy ends the agent's own text.
MARKER_TEXT = "##- Reply above this line to answer the customer -##"
MARKER = re.compile(r"^[^\S\n]*[>|*_ ]*##-[^\n]*-##", re.MULTILINE)
SIGNATURE = re.compile(r"^--[^\S\n]?$", re.MULTILINE)  # "-- " (RFC 3676) or a trimmed "--"
# "From: ...", "*Enviado el:* ...", "Vastaanottaja: ...": a label of a few words, a colon,
# a value. Only a block of them with an address in it counts as a quote's header block.
HEADER_LINE = re.compile(r"^[^\S\n]*[*_]*[^\W\d_][^\W\d_ .-]*(?:[ .-][^\W\d_]+){0,2}[*_]*"
                         r"[^\S\n]*[:：][*_]*(?:[^\S\n]|$)")
SEPARATOR = re.compile(r"^[^\S\n]*(?:[-_=*]{5,}.*|-{2,}[^\n]*-{2,}[^\S\n]*)$")
# How an attribution line ends: "wrote:", "a écrit :", "ha scritto:", "---- X wrote ----".
ATTRIBUTION_END = re.compile(r"(?:wrote|schrieb|geschrieben|sent|écrit|escribió|schreef|"
                             r"scritto|skrev|napisał|написал|написала|escreveu|kirjoitti|"
                             r"yazdı|写道|寫道)[^\S\n]*(?:[:：]|-{2,})[^\S\n]*$", re.IGNORECASE)
QUOTE_HEAD_LINES = 12  # how far above the marker a quote's head may reach
ATTRIBUTION_START = re.compile(r"^\W*(?:on|am|le|el|il|op|em|den|w dniu|в)\b", re.IGNORECASE)
ATTRIBUTION_LINES = 4  # lines a wrapped attribution may take
# A reply address of ours: it belongs to the agent it was made for, never to a customer.
REPLY_ADDRESS = re.compile(r"[^\s<>\"'@+]+\+HS-\d{6,8}-[a-z2-7]{16}(?:-comment)?"
                           r"@[a-z0-9.-]*[a-z0-9]", re.IGNORECASE)


def agent_text(own: str) -> str:
    """The agent's own text: above the notification's marker, the quote's head and the
    signature, in that order."""
    marker = MARKER.search(own)
    text = own[:marker.start()] if marker else own
    found = SIGNATURE.search(text)
    return without_quote_head(text[:found.start()] if found else text)


def without_quote_head(text: str) -> str:
    """Without the lines a mailer writes above a quote, at the end of `text`: a header
    block, a separator line, and an attribution line ("On ... wrote:"), wrapped or not."""
    lines = text.rstrip().split("\n")
    lines = _without_header_block(lines)
    while lines and (not lines[-1].strip() or SEPARATOR.match(lines[-1])):
        lines.pop()  # bounded: pops a line per pass
    return "\n".join(_without_attribution(lines)).strip()


def _without_header_block(lines: list[str]) -> list[str]:
    """The trailing block of "Label: value" lines (blank lines between them allowed, as
    GMX writes them) when there are two or more and one names an address."""
    end = len(lines)
    found: list[str] = []
    index = end - 1
    while index >= 0 and end - index <= QUOTE_HEAD_LINES:
        line = lines[index]
        if line.strip() and not HEADER_LINE.match(line):
            break
        if line.strip():
            found.append(line)
        index -= 1
    if len(found) >= 2 and any("@" in line for line in found):
        return lines[:index + 1]
    return lines


def _without_attribution(lines: list[str]) -> list[str]:
    """The last paragraph goes when it ends as an attribution does ("... wrote:", or an
    address and a colon), back to where it starts ("On ...", "Am ...", or the paragraph's
    first line, at most ATTRIBUTION_LINES up): Gmail wraps a long one."""
    last = lines[-1].rstrip() if lines else ""
    if not (ATTRIBUTION_END.search(last) or ("@" in last and last.endswith((":", "：")))):
        return lines
    start = len(lines) - 1
    for index in range(len(lines) - 1, max(len(lines) - ATTRIBUTION_LINES, 0) - 1, -1):
        if not lines[index].strip():
            break
        start = index
        if ATTRIBUTION_START.match(lines[index]):
            break
    return lines[:start]


def without_reply_addresses(text: str, instead: str) -> str:
    """`instead` (the queue's address) wherever the text names a reply address of ours."""
    return REPLY_ADDRESS.sub(instead, text)
