"""Issue 17, point 5: everything that acts on a reply reads the sender's own words.

The solution confirmation, the survey rating, the staff relay and agents' answers by mail
read InboundMail.own_text (the reply model's own blocks) without the "> line" each inline
block carries for context: what a reply quotes never confirms, rates or reaches a customer.
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import replace
from email import message_from_bytes
from email.policy import default

import pytest

from maildaemon.domain import AgentAddress, Decision, InboundMail, Outcome, Status
from maildaemon.parse import parse_mail
from maildaemon.policy.decide import decide
from maildaemon.policy.ownwords import confirms_solution, own_words, rating_in
from maildaemon.render import TEMPLATES, Renderer, sample_variables
from tests.conftest import HANG_GUARD_SECONDS
from tests.replies_table import load
from tests.test_policy import NOW, SETTINGS, ctx, inbound, ticket

CASES = load()
RESOLVED_NOTICE = ("Your ticket HS-111111 is resolved. If this solved it, reply \"solved\";"
                   " rate us from 1 to 5.")
# The reply model has landed when this module exists (another part of issue 17).
MODEL = importlib.util.find_spec("maildaemon.policy.reply") is not None


def ids(cases: list) -> list[str]:  # type: ignore[type-arg]
    return [c.file for c in cases]


CONFIRMS = [c for c in CASES if c.intent == "confirm"]
RATINGS = [c for c in CASES if c.intent == "rating"]
OTHERS = [c for c in CASES if c.intent not in ("confirm", "rating")]


# -- the words, on the table's own texts (every position, format and language) ---------------

@pytest.mark.parametrize("case", CONFIRMS, ids=ids(CONFIRMS))
def test_every_confirmation_of_the_table_confirms(case: object) -> None:
    assert confirms_solution(case.own_text)  # type: ignore[attr-defined]


@pytest.mark.parametrize("case", OTHERS + RATINGS, ids=ids(OTHERS + RATINGS))
def test_no_other_reply_of_the_table_confirms(case: object) -> None:
    assert not confirms_solution(case.own_text)  # type: ignore[attr-defined]


@pytest.mark.parametrize("case", RATINGS, ids=ids(RATINGS))
def test_every_rating_of_the_table_is_read_even_inline(case: object) -> None:
    found = rating_in(case.own_text)  # type: ignore[attr-defined]
    assert found is not None and found[0] == 5
    assert ">" not in found[1]  # the quoted question is no part of the comment


@pytest.mark.skipif(not MODEL, reason="the reply model (policy/reply.py) has not landed")
@pytest.mark.parametrize("case", CONFIRMS + RATINGS, ids=ids(CONFIRMS + RATINGS))
def test_the_parsed_reply_confirms_or_rates(case: object) -> None:
    """The same through parse.py, once it sets own_text from the model."""
    mail = parse_mail(case.raw)  # type: ignore[attr-defined]
    if case.intent == "confirm":  # type: ignore[attr-defined]
        assert confirms_solution(mail.own_text)
    else:
        assert (rating_in(mail.own_text) or (0,))[0] == 5


def test_the_quoted_line_an_inline_answer_carries_is_not_read() -> None:
    inline = "> Did this solve your problem?\nYes, that fixed it."
    assert own_words(inline) == "Yes, that fixed it."
    assert confirms_solution(inline)
    assert rating_in("> Please rate us from 1 to 5.\n4\n\n> Anything else?\nNo, great.") == \
        (4, "No, great")


def test_words_in_the_quoted_history_trigger_nothing() -> None:
    answer = f"> {RESOLVED_NOTICE}\nIt still fails on the second upload."
    assert not confirms_solution(answer)
    assert rating_in(f"> {RESOLVED_NOTICE}\nNo idea yet.") is None
    assert not confirms_solution("> Solved? Yes\n> Close it\n\nStill broken.")


@pytest.mark.parametrize("hostile", [">" * 1_000_000, " " * 1_000_000,
                                     (" " * 1000 + ">\n") * 1000, "\n" * 1_000_000])
def test_hostile_text_is_read_in_linear_time(hostile: str) -> None:
    started = time.perf_counter()
    assert not confirms_solution(hostile)
    assert rating_in(hostile) is None
    assert not confirms_solution(hostile + "x")
    assert time.perf_counter() - started < HANG_GUARD_SECONDS


# -- the decisions --------------------------------------------------------------------------

def customer(own: str, text: str | None = None) -> InboundMail:
    return inbound(text=text if text is not None else own, own_text=own)


def test_yes_inline_under_the_quote_closes_a_resolved_ticket_with_the_survey() -> None:
    mail = customer("> Did this solve your problem?\nYes, that fixed it.")
    decision = decide(mail, ctx(subject_tickets=(ticket(Status.RESOLVED),)), SETTINGS, NOW)
    assert decision.new_status == Status.CLOSED
    assert [r.template for r in decision.more_mail] == ["survey"]


def test_solved_in_our_quoted_notice_reopens_instead_of_closing() -> None:
    text = f"It still fails.\n\nOn Monday Support wrote:\n> {RESOLVED_NOTICE}"
    decision = decide(customer("It still fails.", text),
                      ctx(subject_tickets=(ticket(Status.RESOLVED),)), SETTINGS, NOW)
    assert decision.new_status == Status.OPEN


def test_a_rating_below_the_quote_is_recorded_and_the_quoted_scale_is_not() -> None:
    mail = customer("> Please rate us from 1 to 5.\n4\n\nQuick and friendly.",
                    "On Monday Support wrote:\n> Please rate us from 1 to 5.\n4\n\n"
                    "Quick and friendly.")
    closed = replace(ticket(Status.CLOSED), closed_at=NOW)
    decision = decide(mail, ctx(subject_tickets=(closed,), replied_to_survey=True),
                      SETTINGS, NOW)
    assert decision.rating == (4, "Quick and friendly")


def staff(own: str, text: str) -> Decision:
    mail = inbound(from_addr="sam@healthsync.com", envelope_sender="sam@healthsync.com",
                   from_name="Sam", dmarc_pass_domain="healthsync.com", text=text,
                   own_text=own)
    return decide(mail, ctx(subject_tickets=(ticket(Status.NEW),)), SETTINGS, NOW)


def test_a_staff_inline_answer_goes_on_without_the_customers_lines() -> None:
    decision = staff("> My account number is 4711.\nThanks, I found it.\n\n"
                     "> Can you refund me?\nYes, today.",
                     "irrelevant: the relay reads the own text")
    assert decision.reply is not None and decision.reply.template == "agent_reply"
    assert decision.reply.to == "alice@example.org"
    assert decision.agent_text == "Thanks, I found it.\n\nYes, today."
    assert decision.new_status == Status.OPEN


def test_a_staff_answer_that_is_only_quote_relays_nothing_and_tells_the_staff() -> None:
    decision = staff("", "On Monday Alice wrote:\n> My account number is 4711.")
    assert decision.reply is not None
    assert (decision.reply.template, decision.reply.to) == ("agent_empty",
                                                            "sam@healthsync.com")
    assert decision.reply.auto_submitted == "auto-replied"
    assert decision.more_mail == () and decision.agent_text == ""
    assert decision.new_status is None  # nothing was answered
    assert [e.type for e in decision.events] == ["agent_reply_empty"]


def agent_mail(own: str) -> Decision:
    mail = inbound(from_addr="sam@healthsync.com", envelope_sender="sam@healthsync.com",
                   from_name="Sam", text=own, own_text=own,
                   subject="Re: [HS-111111] Invoice")
    address = AgentAddress("HS-111111", False, ticket(), "sam@healthsync.com")
    return decide(mail, ctx(agent_address=address), SETTINGS, NOW)


def test_an_agents_inline_answer_by_mail_relays_no_quoted_line() -> None:
    decision = agent_mail("> I was charged twice, card 4711.\nRefunded today.")
    assert decision.outcome == Outcome.AGENT_ANSWER
    assert decision.agent_text == "Refunded today."


def test_an_agents_answer_that_is_only_quote_relays_nothing_and_tells_them() -> None:
    decision = agent_mail("")
    sent = [(r.template, r.to) for r in (decision.reply, *decision.more_mail) if r]
    assert sent == [("agent_empty", "sam@healthsync.com")]
    assert decision.agent_text == "" and decision.new_status is None
    assert [e.type for e in decision.events] == ["agent_reply_empty"]


def test_an_agents_commands_alone_are_still_no_empty_answer() -> None:
    decision = agent_mail("#status resolved")
    assert "agent_empty" not in [r.template for r in (decision.reply, *decision.more_mail)
                                 if r]
    assert "agent_reply_empty" not in [e.type for e in decision.events]


def test_the_staff_member_is_told_in_a_short_automatic_mail() -> None:
    assert "agent_empty" in TEMPLATES  # check-config renders each of them
    told = Renderer("healthsync.com", b"secret").render(
        "agent_empty", number="HS-123456", queue="billing",
        queue_address="billing@healthsync.com", to="sam@healthsync.com",
        ticket_subject="Invoice", now=NOW, in_reply_to="<s1@healthsync.com>",
        variables=sample_variables())
    msg = message_from_bytes(told.raw, policy=default)
    assert msg["Auto-Submitted"] == "auto-replied" and msg["To"] == "sam@healthsync.com"
    for part in (msg.get_body(("plain",)), msg.get_body(("html",))):
        assert part is not None
        words = " ".join(str(part.get_content()).split())
        assert "HS-123456" in words and "was not sent to the customer" in words
