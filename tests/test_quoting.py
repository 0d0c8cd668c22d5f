"""Telling a reply's own text from the history it quotes."""

from __future__ import annotations

import pytest

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
