"""Where each marker of quoted history ends, found on a reply's lines (for reply.py).

The words are attributions.py's tables; this finds the lines they are on: a ">" run, an
Outlook header block (a "From:" line with a "Sent:"/"Date:" line among the next ones), a
separator with the block under it, an attribution wrapped over up to three lines. Each
looks at a bounded number of lines from where it starts.
"""

from __future__ import annotations

from maildaemon.policy import attributions as marks

MAX_HEADER_LINES = 12  # Outlook's block: From, Sent, To, Cc, Subject and a few more
WRAP = 3               # an attribution may be wrapped over up to three lines
ATTRIBUTION_ENDS = (":", "：", "-")


def is_quote(line: str) -> bool:
    return line.lstrip().startswith(">")


def quote_end(lines: list[str], start: int) -> int:
    """The end of the ">" run at `start`: blank lines inside it belong to it."""
    end = index = start
    while index < len(lines):
        head = lines[index].lstrip()
        if head.startswith(">"):
            end = index + 1
        elif head:
            break
        index += 1
    return end


def next_filled(lines: list[str], start: int) -> int:
    while start < len(lines) and not lines[start].strip():
        start += 1
    return start


def header_end(lines: list[str], start: int) -> int | None:
    """The end of a header block at `start` (a "From:" line with a "Sent:"/"Date:" line
    among the next ones), or None."""
    if not marks.is_from_line(lines[start]):
        return None
    end, index, sent = start + 1, start + 1, False
    while index < len(lines) and index - start < MAX_HEADER_LINES:
        if marks.is_label_line(lines[index]):
            sent = sent or marks.is_sent_line(lines[index])
            end = index + 1
        elif lines[index].strip() or not (index + 1 < len(lines)
                                          and marks.is_label_line(lines[index + 1])):
            break  # one blank line may sit inside the block (QQ Mail)
        index += 1
    return end if sent else None


def separator_end(lines: list[str], start: int) -> int | None:
    """The end of a separator ("-----Original Message-----", a line of underscores) and the
    header block under it, if any."""
    line = lines[start]
    original = marks.is_original_separator(line)
    if not original and not marks.is_rule_line(line):
        return None
    after = next_filled(lines, start + 1)
    header = header_end(lines, after) if after < len(lines) else None
    if header is not None and after - start <= 2:
        return header
    return start + 1 if original else None


def attribution_end(lines: list[str], start: int) -> tuple[int, int] | None:
    """(end, strength) of an attribution starting at `start`, the longest of up to three
    lines; a wrapped one only from a line that carries its date or address."""
    for size in range(WRAP, 0, -1):
        window = lines[start:start + size]
        if len(window) < size or not window[-1].endswith(ATTRIBUTION_ENDS):
            continue  # every attribution ends so: the cheap test first
        if not all(line.strip() and not is_quote(line) for line in window):
            continue
        if size > 1 and not marks.may_start_wrapped(window[0]):
            continue
        strength = marks.attribution_strength(" ".join(line.strip() for line in window))
        if strength:
            return start + size, strength
    return None
