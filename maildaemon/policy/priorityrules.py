"""The priority of a new ticket, by the phrase rules of the `[priority]` configuration.

The support page's promise as a table (the default phrases are in priority_config.py and
the README):
- critical: a complete outage, data loss or corruption, a security breach, a HIPAA
  violation; for premium and enterprise customers only. The same mail from a free or plus
  customer, or from a sender the directory does not know (free), is high, and the trace
  says it was capped and why;
- high: a major feature broken, documents that cannot be uploaded, AI analysis failing
  completely, payment processing down;
- low: `[Feature Request]` subjects, general questions, documentation feedback, cosmetic
  issues, enhancement suggestions;
- medium when no rule fired. The highest level that fired wins, and mail to the
  escalation queue is at least high.

What is read: the subject and the customer's own words (ownwords.customer_words: no quoted
history, no signature), the first READ_CHARS characters of them: a customer says what is
wrong at the top, and a pasted log is not a customer saying "data loss". The tier is the
customer directory's (`Context.customer`); a tier written in the mail is never read.

How a phrase matches: case-insensitively, on word boundaries ("system down" does not fire
on "system downloads"), a space standing for any run of white space (a line break too),
curly apostrophes read as straight ones. A phrase written `subject:[Feature Request]` in
the configuration matches in the subject only. A phrase right after a negation in the same
clause ("no data loss", "not a complete outage", "we haven't had any data loss") does not
count: `maildaemon decide` shows it as a miss with the reason.

Each rule that fired is a kept line of the trace (`priority_rule`, `priority_cap`,
`priority_floor`), so it is a ticket event and `maildaemon decide` shows it.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from maildaemon.domain import Customer, Priority, PriorityRule, Tier, TraceLine
from maildaemon.policy.steps import note

READ_CHARS = 20_000  # of the customer's own words (and of a subject, however long)
LISTED = 10  # rules named in the trace; more that fired are counted
RANK = {Priority.LOW: 0, Priority.MEDIUM: 1, Priority.HIGH: 2, Priority.CRITICAL: 3}
CRITICAL_TIERS = frozenset({Tier.PREMIUM, Tier.ENTERPRISE})
SUBJECT_ONLY = "subject:"  # the configuration's prefix of a subject-only phrase

_TOKEN = re.compile(r"\w+|[^\w\s]")
_WORD = re.compile(r"\w+")
# Words too common in mail to index a phrase by: "would" is in most, "nice" in few.
_COMMON = frozenset({
    "would", "could", "should", "cannot", "about", "there", "their", "which", "because",
    "please", "really", "have", "been", "that", "this", "from", "your", "were", "when",
    "they", "will", "just", "with", "what", "some", "also", "only", "more", "able", "the"})
# Marks that end a word, as spaces, to split a text into its words at C speed.
_PUNCTUATION = str.maketrans({mark: " " for mark in "!\"#$%&'()*+,-./:;<=>?@[\\]^`{|}~"
                              "\u201c\u201d\u201e\u201a\u00ab\u00bb\u2039\u203a\u2013"
                              "\u2014\u2026\u00bf\u00a1\u00b7"})
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})
# A negation, then at most two words, then the phrase; never across , . ; : ! ? or a line.
_SEP = r"[^\w.,;:!?\n]+"
_NEGATED = re.compile(
    r"(?<![\w'])(?:no|not|never|without|\w+n't|kein|keine|keinen|keinem|keiner|nicht|ohne"
    r"|pas de|sans|sin|nunca|ningún|ninguna)"
    rf"(?:{_SEP}[\w']+){{0,2}}{_SEP}$",
    re.IGNORECASE)
_NEGATION_WINDOW = 60  # characters before a phrase looked at for its negation


class Fired(NamedTuple):
    rule: PriorityRule
    where: str  # "subject" or "text"


class PriorityChoice(NamedTuple):
    priority: Priority
    lines: tuple[TraceLine, ...]  # for the trace: the rules that fired (kept), the misses


class Matcher(NamedTuple):
    """The rules compiled, indexed by their longest word ("documentation" of "typo in
    the documentation"): a text is split into its words in one pass, and only the phrases
    whose key word it has are searched for. One alternation of every phrase, tried at
    every position, cost 75 ms for a 2 KB mail; this costs a split and a set lookup."""

    rules: tuple[PriorityRule, ...]
    keys: frozenset[str]
    by_key: dict[str, tuple[int, ...]]  # lower-cased key word -> the rules it is in
    patterns: tuple[re.Pattern[str], ...]  # by rule index, lower case, on lowered text
    word_first: tuple[bool, ...]  # by rule index: starts with a word (a boundary before)


def phrase_pattern(phrase: str, lead: bool = True) -> str:
    """A phrase as a pattern: words apart by any white space, punctuation with or without
    it around, word boundaries at a word's ends ("[Feature Request]" matches "[feature
    request]" and "[ Feature  Request ]"). `lead=False` leaves out the boundary before
    the first word, which `fired_rules` checks itself: a pattern that starts with a
    literal is searched for ten times faster."""
    tokens = _TOKEN.findall(phrase.translate(_APOSTROPHES))
    words = [bool(re.match(r"\w", token)) for token in tokens]
    parts = ["(?<!\\w)" if lead and words and words[0] else ""]
    for index, token in enumerate(tokens):
        if index:
            parts.append(r"\s+" if words[index - 1] and words[index] else r"\s*")
        parts.append(re.escape(token))
    parts.append("(?!\\w)" if words and words[-1] else "")
    return "".join(parts)


_made: list[Matcher] = []  # the last rules compiled: a worker's settings never change


def matcher(rules: tuple[PriorityRule, ...]) -> Matcher:
    """The rules compiled once: by identity, the settings' own tuple."""
    if _made and _made[0].rules is rules:
        return _made[0]
    by_key: dict[str, list[int]] = {}
    for index, rule in enumerate(rules):
        words = _WORD.findall(rule.phrase.lower()) or [""]
        rare = [word for word in words if word not in _COMMON] or words
        by_key.setdefault(max(rare, key=len), []).append(index)
    made = Matcher(rules, frozenset(by_key), {k: tuple(v) for k, v in by_key.items()},
                   tuple(re.compile(phrase_pattern(r.phrase.lower(), lead=False))
                         for r in rules),
                   tuple(bool(re.match(r"\s*\w", r.phrase)) for r in rules))
    _made[:] = [made]
    return made


def _is_word(char: str) -> bool:
    return char.isalnum() or char == "_"


def _negation(text: str, start: int) -> str | None:
    """The negation just before `start` in the same clause ("no", "haven't had any"), or
    None."""
    found = _NEGATED.search(text, max(0, start - _NEGATION_WINDOW), start)  # sees behind
    return None if found is None else found.group(0).strip()


def fired_rules(subject: str, words: str, rules: tuple[PriorityRule, ...]
                ) -> tuple[list[Fired], list[TraceLine]]:
    """Every rule whose phrase the subject or the words contain (each once, the subject
    first), and a miss line for each phrase seen only after a negation."""
    compiled = matcher(rules)
    fired: dict[int, Fired] = {}
    negated: dict[int, str] = {}
    for where, text in (("subject", subject[:READ_CHARS]), ("text", words[:READ_CHARS])):
        if not text:
            continue
        text = (text if text.isascii() else text.translate(_APOSTROPHES)).lower()
        present = compiled.keys.intersection(text.translate(_PUNCTUATION).split())
        for index in sorted(i for key in present for i in compiled.by_key[key]):
            if index in fired or (where == "text" and rules[index].subject_only):
                continue
            for found in compiled.patterns[index].finditer(text):  # bounded by the text
                start = found.start()
                if start and compiled.word_first[index] and _is_word(text[start - 1]):
                    continue  # "metadata loss" is no "data loss"
                negation = _negation(text, start)
                if negation is None:
                    fired[index] = Fired(rules[index], where)
                    negated.pop(index, None)
                    break
                negated.setdefault(index, f"{where}, after \"{negation}\"")
    misses = [TraceLine("priority_rule", False, f"{rules[i].level}: \"{rules[i].phrase}\" "
                        f"in the {how}: negated, not counted")
              for i, how in sorted(negated.items())]
    return [fired[i] for i in sorted(fired)], misses


def choose_priority(queue: str, escalation_queue: str, subject: str, words: str,
                    customer: Customer | None, rules: tuple[PriorityRule, ...]
                    ) -> PriorityChoice:
    """The priority of a new ticket and the trace lines that explain it."""
    fired, lines = fired_rules(subject, words, rules)
    fired.sort(key=lambda f: (-RANK[f.rule.level], f.where != "subject"))  # the highest first
    for item in fired[:LISTED]:
        lines.append(note("priority_rule", f"{item.rule.level}: \"{item.rule.phrase}\" "
                                           f"in the {item.where}"))
    if len(fired) > LISTED:
        lines.append(note("priority_rule", f"and {len(fired) - LISTED} more rules"))
    level = fired[0].rule.level if fired else Priority.MEDIUM
    if not fired:
        lines.append(TraceLine("priority_rule", False, "no rule fired: medium"))
    tier = customer.tier if customer else Tier.FREE
    if level == Priority.CRITICAL and tier not in CRITICAL_TIERS:
        who = f"a {tier} customer" if customer else "a sender not in the customer " \
                                                    "directory (free)"
        lines.append(note("priority_cap", f"critical capped to high: {who}; critical is "
                                          "for premium and enterprise customers"))
        level = Priority.HIGH
    if queue == escalation_queue and RANK[level] < RANK[Priority.HIGH]:
        lines.append(note("priority_floor", f"{level} raised to high: mail to the "
                                            f"{queue} queue is at least high"))
        level = Priority.HIGH
    return PriorityChoice(level, tuple(lines))
