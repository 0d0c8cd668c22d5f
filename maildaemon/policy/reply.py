"""A reply as the customer wrote it: their own blocks, and the history they quote.

Issue 17: customers answer above the quote, below it (Thunderbird) and between its lines
(inline), in 20 languages; cutting at the first quote line lost everything after it. So the
text is split into blocks, top to bottom, one line at a time:
    quote         ">" lines at any depth (with the blank lines between them), or the
                  unmarked history under a header block or an attribution (Outlook, Yahoo)
    attribution   "On ... wrote:" and its translations, wrapped over up to three lines
    header_block  Outlook's "From:/Sent:/To:/Subject:" (any language, bold), under a
                  "-----Original Message-----" style separator or a line of underscores
    forward       a message forwarded on purpose: the separator and all under it
    own           what the customer wrote; its tail may be a
    signature     "-- " and what is under it, "Sent from my ...", a sign-off and a name.
`own_text` is what an agent needs to read: the own blocks in order, an inline answer
preceded by the quoted line it answers ("> line"), forwards in full, no signature
(the rule: tests/fixtures/replies/README.md). The tables are in attributions.py and
signatures.py, the line scanning in replymarkers.py. Linear in the text: each line is
looked at a bounded number of times.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from maildaemon.policy import attributions as marks
from maildaemon.policy import replymarkers as markers
from maildaemon.policy.signatures import is_delimiter, is_sign_off, signature_start

BlockKind = Literal["own", "quote", "attribution", "header_block", "signature", "forward"]
_SEPARATOR_STARTS = ("-", "_", "*")


@dataclass(frozen=True)
class Block:
    kind: BlockKind
    lines: tuple[str, ...]


@dataclass(frozen=True)
class ReplyText:
    blocks: tuple[Block, ...]
    own_text: str    # the customer's own words, with the quoted line each inline answer answers
    signature: str   # the signature's non-empty lines, "" when none was found
    full: str        # the text as it came


def read_reply(text: str, *, forwarded: bool = False) -> ReplyText:
    """Split a reply's text into blocks. `forwarded`: the message is a forward (it answers
    nothing: no In-Reply-To), so an Outlook header block starts the forwarded message
    rather than quoted history."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    blocks = _with_signatures(_split(lines, forwarded))
    return ReplyText(blocks=blocks, own_text=_own_text(blocks),
                     signature="\n".join(line for block in blocks if block.kind == "signature"
                                         for line in block.lines
                                         if line.strip() and not is_delimiter(line)),
                     full=text)


def _split(lines: list[str], forwarded: bool) -> list[Block]:
    """One pass, top to bottom: each line is a quote, a marker (header block, separator,
    attribution, forward) or the customer's; a marker with no ">" under it starts unmarked
    history, all of the rest."""
    blocks: list[Block] = []
    own_from, index = 0, 0

    def add(kind: BlockKind, start: int, end: int) -> None:
        nonlocal own_from
        if own_from < start:
            blocks.append(Block("own", tuple(lines[own_from:start])))
        blocks.append(Block(kind, tuple(lines[start:end])))
        own_from = end

    while index < len(lines):
        line = lines[index]
        if not line.strip():
            index += 1
            continue
        if markers.is_quote(line):
            end = markers.quote_end(lines, index)
            add("quote", index, end)
            index = end
            continue
        edge = line.lstrip().startswith(_SEPARATOR_STARTS) or \
            line.endswith(markers.ATTRIBUTION_ENDS)
        header = markers.header_end(lines, index) or \
            (markers.separator_end(lines, index) if edge else None)
        if (edge and marks.is_forward_separator(line)) or (forwarded and header is not None):
            add("forward", index, len(lines))
            return blocks
        attribution = None if header else markers.attribution_end(lines, index)
        kind: BlockKind = "header_block" if header is not None else "attribution"
        if header is not None:
            end, strength = header, 2
        elif attribution is not None:
            end, strength = attribution
        else:
            index += 1
            continue
        after = markers.next_filled(lines, end)
        marked = after < len(lines) and markers.is_quote(lines[after])
        if not marked and strength < 2:
            index += 1  # "X sent:" with no ">" under it is the customer's own line
            continue
        add(kind, index, end)
        if not marked and after < len(lines):
            add("quote", after, len(lines))  # unmarked history: all of the rest
            return blocks
        index = end
    if own_from < len(lines):
        blocks.append(Block("own", tuple(lines[own_from:])))
    return blocks


def _trimmed(lines: tuple[str, ...]) -> tuple[str, ...]:
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return lines[start:end]


def _with_signatures(blocks: list[Block]) -> tuple[Block, ...]:
    """Own blocks trimmed of blank lines, their signature split off; a sign-off that is
    all the customer wrote ("Thanks!") stays their own text."""
    result: list[Block] = []
    for block in blocks:
        lines = _trimmed(block.lines) if block.kind in ("own", "forward") else block.lines
        if not lines:
            continue
        found = signature_start(list(lines)) if block.kind == "own" else None
        if found is None:
            result.append(Block(block.kind, lines))
            continue
        own_to = found  # a "-- " line stays in the signature block, not in its text
        if _trimmed(lines[:own_to]):
            result.append(Block("own", _trimmed(lines[:own_to])))
        result.append(Block("signature", _trimmed(lines[own_to:])))
    if not any(block.kind in ("own", "forward") for block in result):
        result = [Block("own", block.lines) if block.kind == "signature"
                  and is_sign_off(block.lines[0]) else block for block in result]
    return tuple(result)


def _last_quoted_line(block: Block) -> str:
    for line in reversed(block.lines):
        said = line.strip().lstrip("> \t\u00a0")
        if said:
            return said
    return ""


def _own_text(blocks: tuple[Block, ...]) -> str:
    """The own blocks in order; when the customer wrote between quotes (inline), each own
    block after a quote starts with that quote's last line, as "> line"."""
    kinds = [block.kind for block in blocks]
    quotes = [index for index, kind in enumerate(kinds) if kind == "quote"]
    inline = bool(quotes) and any(kind == "own" and quotes[0] < index < quotes[-1]
                                  for index, kind in enumerate(kinds))
    parts: list[str] = []
    answered = ""
    for block in blocks:
        if block.kind == "quote":
            answered = _last_quoted_line(block)
        elif block.kind in ("own", "forward"):
            context = f"> {answered}\n" if inline and answered and block.kind == "own" else ""
            parts.append(context + "\n".join(block.lines))
    return "\n\n".join(parts)
