"""Card numbers and US social security numbers in a text: where they are (policy/sensitive.py
masks them).

- **card**: a payment card number: 13 to 19 digits that pass the Luhn check, written
  unbroken or in the groups cards are printed in (4-4-4-4, 4-4-4-4-3, 4-4-4-1..4, Amex
  4-6-5, Diners 4-6-4) with spaces or dashes between them (a non-breaking space or
  `&nbsp;` in HTML too), starting with 2 to 6, the major industry identifiers of banks and
  payment networks (ISO/IEC 7812: Mastercard 2 and 5, Amex, JCB and Diners 3, Visa 4,
  Discover and UnionPay 6). So an order number that fails Luhn, a 13-digit millisecond
  timestamp (they start with 1 until 2033), a run of more than 19 digits (a long id) and
  the digits of an IBAN after its country code are left alone. A card inside a longer
  run of groups is found by its own groups: `4111 1111 1111 1111 123` (a CVV behind it).
  Masked to its last 4 digits, separators kept: `****-****-****-1111`.
- **ssn**: a US social security number: `AAA-GG-SSSS` (area not 000, 666 or 900-999,
  group not 00, serial not 0000), or nine digits, unbroken or spaced 3-2-4, right after
  "SSN" or "social security (number)": a spaced 3-2-4 alone is as often a phone number
  (030 12 3456). Masked whole: `***-**-****`.

Speed: a text's digits are found in its bytes, where translate, find and count run at C
speed: only the lines where a card's shape (four digits, then nine more with single
separators) or an SSN's stands are read by the regular expressions below, so a text of
dates and phone numbers costs a few scans of its bytes.
"""

from __future__ import annotations

import re

Span = tuple[int, int]
DIGITS = "0123456789"
WIDE_DIGITS = "０１２３４５６７８９"  # Japanese and Chinese input methods type these
_TO_HASH = bytes.maketrans(DIGITS.encode(), b"#" * 10)
# In the text's bytes with every ASCII digit made "#": a card's first group of four and
# nine more digits with single separators between them. A literal start, so the search
# jumps from one "####" to the next at C speed: a text of dates and phone numbers costs
# no more than that.
_CARD_SHAPE = re.compile(rb"####(?:(?:[ \-]|\xc2\xa0|&nbsp;|&#160;|&#xa0;|\xe2\x80[\x90\x91\x93]"
                         rb"|\xe3\x80\x80)?#){9}")
_SSN_SHAPE = re.compile(rb"###[ \-]?##[ \-]?####")  # after "SSN": also spaced or unbroken
_SSN_DASHED_SHAPE = re.compile(rb"###-##-####")


def _number_lines(text: str, named: bool) -> tuple[list[Span], list[Span]]:
    """(lines that may hold a card, lines that may hold an SSN). `named`: the text says
    "SSN" or "social security", so nine digits spaced 3-2-4 or unbroken may be one; else
    only AAA-GG-SSSS."""
    if not text.isascii() and any(digit in text for digit in WIDE_DIGITS):
        return [(0, len(text))], [(0, len(text))]
    data = text.encode("utf-8", "surrogatepass")
    marked = data.translate(_TO_HASH)
    if marked.find(b"####") < 0:
        return [], []
    cards = _lines_of(marked, _CARD_SHAPE)
    numbers = _lines_of(marked, _SSN_SHAPE if named else _SSN_DASHED_SHAPE)
    if len(data) == len(text) or not (cards or numbers):
        return cards, numbers

    def chars(lines: list[Span]) -> list[Span]:
        return [(len(data[:a].decode("utf-8", "surrogatepass")),
                 len(data[:b].decode("utf-8", "surrogatepass"))) for a, b in lines]

    return chars(cards), chars(numbers)


def _lines_of(marked: bytes, shape: re.Pattern[bytes]) -> list[Span]:
    lines: list[Span] = []
    for found in shape.finditer(marked):
        if lines and found.start() < lines[-1][1]:
            continue  # on the line before
        start = marked.rfind(b"\n", 0, found.start()) + 1
        end = marked.find(b"\n", found.end())
        lines.append((start, len(marked) if end < 0 else end))
    return lines


_SEP = r"(?:[ \-\u00a0\u2010\u2011\u2013\u3000]|&nbsp;|&#160;|&#xa0;)"
# A run of digit groups joined by single separators, taken whole (possessive: a run is
# never shortened to a card). What stands around it is checked apart, so a run that fails
# costs its own length once, however long it is.
_RUN = re.compile(rf"\d++(?:{_SEP}\d++)*+")
_GROUP = re.compile(r"\d+")
# A run glued to a word, a decimal point ("1.4111..."), a date or a phone number is part
# of something else; one after a comma is a CSV field.
_NOT_BEFORE = re.compile(r"[\w/+\-]|(?<=\d)\.")
_NOT_AFTER = re.compile(r"\w|[./]\d")  # a word, a decimal, a date (a comma: a CSV field)
_IBAN_HEAD = re.compile(rf"[A-Z]{{2}}\d\d{_SEP}$")  # DE89 3704 0044 0532 0130 00
_SHAPES = {(4, 6, 5), (4, 6, 4)}  # besides unbroken and fours


def luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _card_shaped(sizes: list[int]) -> bool:
    return len(sizes) == 1 or tuple(sizes) in _SHAPES or (
        all(size == 4 for size in sizes[:-1]) and 1 <= sizes[-1] <= 4)


def _card_spans(text: str, start: int, end: int) -> list[Span]:
    """Where the digits to star are, in text[start:end]: each card's but its last 4."""
    starred: list[Span] = []
    for run in _RUN.finditer(text, start, end):
        if _NOT_AFTER.match(text, run.end(), end):
            continue
        groups = [(run.start() + g.start(), run.start() + g.end())
                  for g in _GROUP.finditer(run.group())]
        if run.start() > 0 and _NOT_BEFORE.match(text, run.start() - 1):
            groups = groups[1:]  # glued to a word or a number: its first group is not ours
        if sum(b - a for a, b in groups) < 13 or (groups and _IBAN_HEAD.search(
                text, max(0, groups[0][0] - 12), groups[0][0])):
            continue
        first = 0
        while first < len(groups):  # bounded: each round moves `first` on
            for last in range(min(len(groups), first + 5) - 1, first - 1, -1):
                window = groups[first:last + 1]
                digits = "".join(text[a:b] for a, b in window)
                if 13 <= len(digits) <= 19 and 2 <= int(digits[0]) <= 6 \
                        and _card_shaped([b - a for a, b in window]) and luhn(digits):
                    starred += _all_but_last_four(window)
                    first = last + 1
                    break
            else:
                first += 1
    return starred


def _all_but_last_four(window: list[Span]) -> list[Span]:
    keep = 4
    spans: list[Span] = []
    for start, end in reversed(window):
        kept = min(keep, end - start)
        keep -= kept
        if end - kept > start:
            spans.append((start, end - kept))
    return spans


_SSN_DASHED = re.compile(r"(?<![\w/+\-])(?<!\d\.)(?P<area>\d{3})-(?P<group>\d{2})"
                         r"-(?P<serial>\d{4})(?!\w|[./\-]\d)")
_SSN_NAMED = re.compile(
    r"(?i)(?<!\w)(?:ssn|ss\s?#|social\s+security(?:\s+(?:number|no\.?|#))?)[^\w\n]{0,5}"
    r"(?:is\s*:?\s*)?(?P<area>\d{3})(?P<sep>[ \-]?)(?P<group>\d{2})(?P=sep)(?P<serial>\d{4})"
    r"(?!\w|[./\-]\d)")
_SSN_PARTS = ("area", "group", "serial")


_SSN_WORDS = ("ssn", "ss#", "ss #", "social")


def _ssn_spans(text: str, start: int, end: int, named: bool) -> list[Span]:
    """`named`: the text says "SSN" or "social security" somewhere."""
    spans: list[Span] = []
    for pattern in (_SSN_DASHED, _SSN_NAMED) if named else (_SSN_DASHED,):
        for found in pattern.finditer(text, start, end):
            area, group, serial = (int(found.group(part)) for part in _SSN_PARTS)
            if area not in (0, 666) and area < 900 and group > 0 and serial > 0:
                spans += [found.span(part) for part in _SSN_PARTS]
    return spans


def has_digits(text: str) -> bool:
    """Any digit at all: ten C-speed searches (and ten more for text beyond ASCII)."""
    return any(digit in text for digit in DIGITS) or (
        not text.isascii() and any(digit in text for digit in WIDE_DIGITS))


def number_spans(text: str, low: str, cards: bool, ssns: bool
                 ) -> tuple[list[Span], list[Span]]:
    """(the digits to star of each card but its last 4, each SSN's digits); `low`: the
    text lower-cased, where "SSN" is looked for."""
    named = ssns and any(word in low for word in _SSN_WORDS)
    card_lines, ssn_lines = _number_lines(text, named)
    found_cards = [span for start, end in card_lines if cards
                   for span in _card_spans(text, start, end)]
    found_ssns = [span for start, end in ssn_lines if ssns
                  for span in _ssn_spans(text, start, end, named)]
    return found_cards, found_ssns
