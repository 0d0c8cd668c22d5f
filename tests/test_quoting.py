"""Telling a reply's own text from the history it quotes."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maildaemon.policy.quoting import confirms_solution, own_text, rating_in


@pytest.mark.parametrize("text", [
    "Here are the logs.\n\n> Could you send the logs?\n> Sam",
    "Here are the logs.\n\nOn Mon, 5 Jan 2026 at 10:00, Sam <sam@x.com> wrote:\n> Could",
    "Here are the logs.\n\nAm 05.01.2026 um 10:00 schrieb Sam:\n> Könnten",
    "Here are the logs.\n\n-----Original Message-----\nFrom: Sam\nSent: Monday",
    "Here are the logs.\n\nFrom: Sam <sam@x.com>\nSent: Monday, 5 January 2026 10:00\nTo: me",
])
def test_own_text_stops_at_quoted_history(text: str) -> None:
    assert own_text(text) == "Here are the logs."


def test_text_without_quotes_is_all_own() -> None:
    assert own_text("Line one.\nFrom: a colleague told me\nLine three.") == \
        "Line one.\nFrom: a colleague told me\nLine three."


@pytest.mark.parametrize("text,confirms", [
    ("Yes, that works.\n\n> Does it work now?", True),
    ("Thanks, that fixed it!", True),
    ("solved", True),
    ("Close it please", True),
    ("No, still broken.\n\n> Yes, solved on our side", False),
    ("It still fails. Yes I restarted.", False),
])
def test_confirmation_is_read_from_the_first_own_line(text: str, confirms: bool) -> None:
    assert confirms_solution(text) is confirms


@pytest.mark.parametrize("text,expected", [
    ("5 - great service", (5, "great service")),
    ("I'd say 4.\n\n> Rate us from 1 to 5", (4, "I'd say")),
    ("Rating: 2, slow answers", (2, "Rating: , slow answers")),
    ("10 out of 10!", None),
    ("no number here\n> 5", None),
])
def test_rating_is_the_first_number_one_to_five(text: str,
                                               expected: tuple[int, str] | None) -> None:
    assert rating_in(text) == expected


def own_text_line_by_line(text: str) -> str:
    """The rule as first written, one line at a time: the oracle for the one-pass pattern."""
    wrote = re.compile(r"^(on\b.*\bwrote:|am\b.*\bschrieb\b.*:|le\b.*\ba écrit\s*:|"
                       r"el\b.*\bescribió:|op\b.*\bschreef\b.*:)\s*$", re.IGNORECASE)
    original = re.compile(r"^-{2,}\s*(original message|ursprüngliche nachricht|"
                          r"message d'origine)\s*-{2,}\s*$", re.IGNORECASE)
    outlook_from = re.compile(r"^(from|von|de)\s*:\s*\S", re.IGNORECASE)
    outlook_sent = re.compile(r"^(sent|gesendet|envoyé|date)\s*:\s*\S", re.IGNORECASE)
    lines = text.replace("\r\n", "\n").split("\n")
    for index, line in enumerate(lines):
        stripped = line.strip()
        following = lines[index + 1].strip() if index + 1 < len(lines) else ""
        if (stripped.startswith(">") or wrote.match(stripped) or original.match(stripped)
                or (outlook_from.match(stripped) and outlook_sent.match(following))):
            return "\n".join(lines[:index]).strip()
    return text.strip()


LINES = st.sampled_from([
    "Hello,", "", "  ", "\t", "Here are the logs.", "> quoted", "  > indented quote",
    ">", "On Mon, 5 Jan 2026, Sam wrote:", "on monday sam WROTE:  ", "ON x wrote: more",
    "Am 05.01.2026 schrieb Sam:", "Le 5 janv. Sam a écrit :", "El lunes, Sam escribió:",
    "Op maandag schreef Sam:", "-----Original Message-----", "-- original message --",
    "--Ursprüngliche Nachricht--", "---- Message d'origine ----", "From: Sam",
    "From : Sam <s@x.com>", "from:", "Von: Sam", "De: Sam", "Sent: Monday", "sent :x",
    "Date: today", "Gesendet: Montag", "Envoyé : lundi", "Sent:", "Frommage: no",
    "onwrote:", "Wrote: on", "\u00a0> nbsp quote", "\x0cOn x wrote:\x0c", "x\rOn y wrote:",
    "On y wrote:\r", "From: a\rSent: b",
])
TEXTS = st.builds(lambda lines, sep: sep.join(lines),
                  st.lists(st.one_of(LINES, st.text(max_size=12)), max_size=12),
                  st.sampled_from(["\n", "\r\n"]))


@settings(max_examples=600, deadline=None)
@given(text=TEXTS)
def test_one_pass_cuts_where_the_line_by_line_rule_does(text: str) -> None:
    assert own_text(text) == own_text_line_by_line(text)
