"""Sensitive data in a customer's text: what counts, and how it is masked.

Three kinds, each a rule over one string. masking.py applies them to every text part and
subject of a received message before anything keeps it; policy/privacy.py decides what the
ticket and the customer are told.

- **card**: a payment card number, Luhn-valid, as cards are printed; masked to its last
  4 digits (`****-****-****-1111`). The rules: policy/numbers.py.
- **ssn**: a US social security number; masked whole (`***-**-****`). policy/numbers.py.
- **password**: the value of a password or PIN given in the text (`Password: hunter2`,
  `my PIN is 4821`); masked as `********`. The rules: policy/passwords.py.

Speed: most mail has nothing to mask, so `mask` first asks two cheap questions, each a
C-speed scan of the string: any digit at all, and any label's stem. A 2 KB text with
neither costs about 7 microseconds.
"""

from __future__ import annotations

from typing import NamedTuple

from maildaemon.policy.numbers import Span, has_digits, number_spans
from maildaemon.policy.passwords import MASK, password_spans, stem_places

CARD, SSN, PASSWORD = "card", "ssn", "password"
KINDS = (CARD, SSN, PASSWORD)  # in this order wherever kinds are listed
NAMES = {CARD: "card number", SSN: "social security number", PASSWORD: "password or PIN"}


class Masked(NamedTuple):
    text: str
    kinds: frozenset[str]


NOTHING: frozenset[str] = frozenset()
ALL: frozenset[str] = frozenset(KINDS)


def mask(text: str, kinds: frozenset[str] = ALL, html: bool = False) -> Masked:
    """The text with every card, SSN and password of `kinds` masked, and the kinds found.

    `html`: the text is HTML source: `&nbsp;` separates a card's groups, and a password's
    value may stand after tags (`Password:</td><td>hunter2`) and ends at the next one.
    """
    if not kinds or not text:
        return Masked(text, NOTHING)
    digits = (CARD in kinds or SSN in kinds) and has_digits(text)
    low = text.lower()
    if len(low) != len(text):  # "İ" lowers to two characters: keep the places aligned
        low = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
    places = stem_places(text, low) if PASSWORD in kinds else []
    if not digits and not places:
        return Masked(text, NOTHING)
    cards, ssns = number_spans(text, low, CARD in kinds, SSN in kinds) if digits else ([], [])
    replaced = password_spans(text, low, places, html) if places else []
    found = {kind for kind, spans in ((CARD, cards), (SSN, ssns), (PASSWORD, replaced))
             if spans}
    if not found:
        return Masked(text, NOTHING)
    return Masked(_apply(text, [*cards, *ssns], replaced), frozenset(found))


def _apply(text: str, starred: list[Span], replaced: list[Span]) -> str:
    """Digits in `starred` become "*" (same length: the other spans stay where they are);
    each span of `replaced` becomes MASK, from the end so the earlier ones keep their
    places."""
    chars = list(text)
    for start, end in starred:
        for index in range(start, end):
            if chars[index].isdigit():
                chars[index] = "*"
    out = "".join(chars)
    for start, end in reversed(_merged(replaced)):
        out = out[:start] + MASK + out[end:]
    return out


def _merged(spans: list[Span]) -> list[Span]:
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def names(kinds: frozenset[str] | tuple[str, ...]) -> list[str]:
    """The kinds in their fixed order, as words: "card number", ..."""
    return [NAMES[kind] for kind in KINDS if kind in kinds]
