"""Issue 16, point 2: an agent's own text, whatever their mail client did with the quote.

The reply table of issue 17 (tests/fixtures/replies) holds top-posted replies from some
forty clients and twenty languages; quoting.py alone lets the quoted mail through for a
third of them. A team notification starts with a marker line, so here each reply gets the
marker where the quoted mail begins, as it would quoting a notification, and the agent's
text (policy/agenttext.py) must hold none of the quote.
"""

from __future__ import annotations

import pytest

from maildaemon.parse import html_to_text, parse_mail
from maildaemon.policy.agenttext import MARKER, MARKER_TEXT, agent_text
from maildaemon.policy.quoting import own_text
from maildaemon.resources import shipped_dir
from tests.replies_table import ReplyCase, load

TOP = [case for case in load() if case.position == "top"]
QUOTED = ("healthsync.com", "HS-", "Support team", "Thank you for writing", "We believe")


@pytest.mark.parametrize("case", TOP, ids=lambda c: c.id)
def test_nothing_of_the_quoted_notification_reaches_the_customer(case: ReplyCase) -> None:
    text = parse_mail(case.raw).text
    start = text.index("Hello ")  # where our quoted mail's body begins
    quoting = text[:start] + MARKER_TEXT + "\n" + text[start:]
    got = agent_text(own_text(quoting))
    assert [word for word in QUOTED if word in got] == []
    assert got.startswith(case.own_text.split("\n")[0])


def test_the_notification_starts_with_the_marker() -> None:
    """Its text part, and its HTML part as an HTML-only reply's text shows it."""
    templates = shipped_dir("templates")
    text = (templates / "team_notification.txt").read_text()
    assert text.startswith(MARKER_TEXT + "\n")
    shown = html_to_text((templates / "team_notification.html").read_text())
    found = MARKER.search(shown)
    assert found is not None and not shown[:found.start()].strip()


@pytest.mark.parametrize("text", [
    "Here are the steps:",
    "Your order: 12345",
    "Write to us at billing@healthsync.com if it happens again.",
    "Thanks,\nSam",
])
def test_an_answer_that_only_looks_like_a_quotes_head_is_kept(text: str) -> None:
    assert agent_text(f"Hello Ann,\n\n{text}") == f"Hello Ann,\n\n{text}"


def test_a_quotes_head_above_the_marker_is_cut() -> None:
    assert agent_text("Done, refunded.\n\n________________________________\n"
                      "*From:* Billing team <billing@healthsync.com>\n*Sent:* Monday\n"
                      "*To:* Sam\n\n> " + MARKER_TEXT + "\n> New ticket") == "Done, refunded."
    assert agent_text("Done.\n\nOn Mon, 30 Nov 2026 at 09:14, Billing team <\n"
                      "billing@healthsync.com> wrote:\n") == "Done."
