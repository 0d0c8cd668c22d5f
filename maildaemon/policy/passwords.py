"""Passwords and PINs given in a text: where their values are (policy/sensitive.py masks
them).

- **password**: the value of a password or PIN given in the text, by a label and a colon
  or `=` (`Password: hunter2`, `PIN = 4821`, `"password": "x"` in a JSON log) or in words
  (`my password is Summer2024!`, `mein Passwort ist ...`), in the languages of the reply
  model. A labelled value is masked when it is alone on its line or looks like a secret
  (4 characters or more with a digit, a symbol or an inner capital); a value in words only
  when it looks like a secret or is quoted, so "my password is wrong" stays as written.
  Masked as `********`, whatever its length.

Speed: the labels are found through their stems in the lower-cased text: the stems that
start with "p" in one search (a literal first letter makes it a memchr), two longer words
in plain ASCII text (Dutch and German are often written without a letter outside ASCII),
and the others only in text that is not plain ASCII, as their languages write them with
their own letters. Each place a stem stands is then read from there, never the whole text.
"""

from __future__ import annotations

import re

Span = tuple[int, int]
MASK = "********"
LABELS = (
    "password", "passwort", "kennwort", "passcode", "passphrase", "pass phrase", "pwd",
    "pin", "pin code", "pincode", "pin-code", "pin number", "pin-nummer", "code pin",
    "mot de passe", "contraseña", "contrasena", "clave", "senha", "palavra-passe",
    "wachtwoord", "lösenord", "losenord", "passord", "adgangskode", "salasana", "hasło",
    "haslo", "heslo", "пароль", "parola", "şifre", "sifre", "mật khẩu", "パスワード",
    "暗証番号", "密码", "密碼", "비밀번호",
)
_P_STEMS = re.compile("p(?:ass|wd|in|arol)")
ASCII_STEMS = ("kennwort", "wachtwoord")
OTHER_STEMS = ("contrase", "clave", "senha", "heslo", "salasana", "adgangskode", "hasło",
               "haslo", "şifre", "sifre", "lösenord", "losenord", "пароль", "mật khẩu",
               "パスワード", "暗証番号", "密码", "密碼", "비밀번호")
STEMS = ("pass", "pwd", "pin", "parol", *ASCII_STEMS, *OTHER_STEMS)


def _stem_table() -> dict[str, dict[str, tuple[tuple[str, int], ...]]]:
    """stem -> the character after it -> the labels holding it there, with where the stem
    stands in them ("" for labels that end with it): "pass" -> "w" -> ("password", 0),
    ("passwort", 0); "pass" -> "e" -> ("mot de passe", 7), ... So a stem inside another
    word ("shipping", "compass") is dismissed by one lookup."""
    table: dict[str, dict[str, list[tuple[str, int]]]] = {}
    for label in LABELS:
        stem = next(s for s in STEMS if s in label)  # every label has one (a test checks)
        at = label.index(stem)
        after = label[at + len(stem):at + len(stem) + 1]
        table.setdefault(stem, {}).setdefault(after, []).append((label, at))
    return {stem: {after: tuple(sorted(labels, key=lambda x: -len(x[0])))
                   for after, labels in by_next.items()} for stem, by_next in table.items()}


_LABELS_BY_STEM = _stem_table()
# After the label: `Password: x`, `PIN (new) = x`, `パスワード：x`, `"password": "x"`.
_GIVEN = re.compile(r"[\"']?[^\S\n]*(?:\([^()\n]{0,30}\)[^\S\n]*)?[:=：]")
# After the label, in words: "is x", "ist x", "est x", "es x", "é x", "on x", "je x".
_SAID = re.compile(r"(?i)[^\S\n]+(?:is|was|ist|war|lautet|est|était|es|era|é|är|er|on|jest"
                   r"|je)(?!\w)[^\S\n]*:?")
_LEAD = {False: re.compile(r"[^\S\n]*"), True: re.compile(r"(?:\s|&nbsp;|<[^<>]{0,200}>)*")}
_TOKEN = {False: re.compile(r"\S+"), True: re.compile(r"[^\s<]+")}
_ALONE = {False: re.compile(r"[^\S\n]*(?:\n|$)"), True: re.compile(r"(?:\s|&nbsp;)*(?:<|$)")}
_QUOTES = {'"': '"', "'": "'", "“": "”", "„": "“", "«": "»", "‘": "’", "`": "`"}
_TRAILING = ".,;:)"
_WORD = re.compile(r"\w")


def stem_places(text: str, low: str) -> list[tuple[int, str]]:
    places = [(found.start(), found.group()) for found in _P_STEMS.finditer(low)]
    for stem in ASCII_STEMS if text.isascii() else (*ASCII_STEMS, *OTHER_STEMS):
        at = low.find(stem)
        while at >= 0:  # bounded: each round searches after the last
            places.append((at, stem))
            at = low.find(stem, at + 1)
    return places


def password_spans(text: str, low: str, places: list[tuple[int, str]], html: bool
                    ) -> list[Span]:
    """The values given after each label found at the stems' places (`low`: the text
    lower-cased, of the same length)."""
    spans: list[Span] = []
    for at, stem in places:
        by_next = _LABELS_BY_STEM[stem]
        after = low[at + len(stem):at + len(stem) + 1]
        labels = by_next.get(after, ())
        if not _WORD.match(after):
            labels = (*labels, *by_next.get("", ()))
        for label, offset in labels:
            start, end = at - offset, at - offset + len(label)
            if start < 0 or not low.startswith(label, start) or \
                    (start > 0 and _WORD.match(text, start - 1)) or _WORD.match(text, end):
                continue
            for rest, labelled in ((_GIVEN, True), (_SAID, False)):
                said = rest.match(text, end)
                if said is not None:
                    span = _value_span(text, said.end(), html, labelled)
                    if span is not None:
                        spans.append(span)
            break  # the longest label at this place
    return spans


def _secret_looking(token: str) -> bool:
    return len(token) >= 4 and (any(c.isdigit() or not c.isalnum() for c in token)
                                or any(c.isupper() for c in token[1:]))


def _placeholder(token: str) -> bool:
    return not token.strip("*•·x…\"'") or token.lower() in ("[removed]", "none", "n/a")


def _value_span(text: str, start: int, html: bool, labelled: bool) -> Span | None:
    """The span of the password given from `start` (after the label), or None."""
    lead = _LEAD[html].match(text, start)
    begin = lead.end() if lead else start
    opening = text[begin:begin + 1]
    if opening in _QUOTES:
        close = text.find(_QUOTES[opening], begin + 1)
        line_end = text.find("\n", begin)
        if close > begin + 1 and (line_end < 0 or close < line_end):
            return None if _placeholder(text[begin + 1:close]) else (begin + 1, close)
    token = _TOKEN[html].match(text, begin)
    if token is None:
        return None
    end = token.end()
    while end - begin > 1 and text[end - 1] in _TRAILING:
        end -= 1
    value = text[begin:end]
    if _placeholder(value):
        return None
    alone = _ALONE[html].match(text, token.end()) is not None
    return (begin, end) if _secret_looking(value) or (labelled and alone) else None


