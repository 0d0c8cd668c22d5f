"""Issue 16, points 2 and 3, the pure part: an agent's mail to a ticket's reply address.

The command lines, the agent's own text, and the decision: an answer, a comment, or a
refusal, with what each sends (policy/agentcommands.py, policy/agentmail.py).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from maildaemon.domain import AgentAddress, Decision, Outcome, Priority, Status, TicketRef
from maildaemon.policy.agentcommands import run_commands, split_commands
from maildaemon.policy.agenttext import agent_text
from maildaemon.policy.decide import decide
from maildaemon.policy.quoting import own_text
from tests.test_policy import NOW, SETTINGS, ctx, inbound

AGENT = "sam@healthsync.com"
TICKET = TicketRef("HS-111111", Status.OPEN, "billing", "alice@example.org", "Invoice",
                   frozenset({"alice@example.org", "bob@example.org"}), None,
                   Priority.MEDIUM, None)
THUNDERBIRD = """#status resolved
#assign me

Hello Alice, the refund is on its way.

--\x20
Sam, HealthSync billing

On 28/11/2026 09:12, Billing team wrote:
> New ticket HS-111111 from alice@example.org
> I was charged twice.
"""


def agent_mail(text: str, sender: str = AGENT, comment: bool = False,
               ticket: TicketRef | None = TICKET, made_for: str | None = AGENT,
               **fields: object) -> Decision:
    values: dict[str, object] = dict(
        from_addr=sender, from_name="Sam", text=text, own_text=own_text(text),
        envelope_sender=sender, subject="Re: [HS-111111] Invoice")
    values.update(fields)
    address = AgentAddress("HS-111111", comment, ticket, made_for)
    return decide(inbound(**values), ctx(agent_address=address), SETTINGS, NOW)


# -- the command lines -----------------------------------------------------------------------

def test_command_lines_are_read_only_at_the_top() -> None:
    lines, text = split_commands("#status waiting\n\n#priority high\nHi,\n#assign me\n")
    assert lines == ("#status waiting", "#priority high")
    assert text == "Hi,\n#assign me"


@pytest.mark.parametrize("text", ["# Heading\nHi", "#1 issue is the invoice", "Hi #status x"])
def test_a_hash_that_is_not_a_command_line_is_text(text: str) -> None:
    assert split_commands(text) == ((), text)


def test_the_signature_block_is_cut() -> None:
    assert agent_text("Done.\n-- \nSam\n+1 555") == "Done."
    assert agent_text("Done.\n--\nSam") == "Done."
    assert agent_text("a -- b") == "a -- b"


def test_each_command_is_checked_as_the_cli_would_and_the_rest_applied() -> None:
    lines = ("#status resolved", "#frobnicate now", "#priority urgent", "#assign me",
             "#status new", "#escalate")
    effects = run_commands(lines, TICKET, AGENT, Status.OPEN)
    assert [(r.line, r.applied) for r in effects.results] == [
        ("#status resolved", True), ("#frobnicate now", False), ("#priority urgent", False),
        ("#assign me", True), ("#status new", False), ("#escalate", True)]
    assert "unknown command" in effects.results[1].detail
    assert "cannot become new" in effects.results[4].detail  # the lifecycle table's words
    assert effects.status == Status.RESOLVED and effects.assignee == AGENT
    assert effects.escalate and effects.priority is None


def test_a_status_the_ticket_already_has_is_not_applied() -> None:
    [result] = run_commands(("#status open",), TICKET, AGENT, Status.OPEN).results
    assert not result.applied and "already open" in result.detail


# -- the decision ----------------------------------------------------------------------------

def test_an_answer_sends_only_the_agents_own_text_to_the_requester_copying_the_others(
        ) -> None:
    decision = agent_mail(THUNDERBIRD)
    assert decision.outcome == Outcome.AGENT_ANSWER
    assert decision.agent_text == "Hello Alice, the refund is on its way."
    assert decision.reply.template == "agent_reply"
    assert (decision.reply.to, decision.reply.cc) == ("alice@example.org", ("bob@example.org",))
    assert decision.new_status == Status.RESOLVED and decision.due_at is not None
    assert decision.assignee == AGENT
    assert [m.template for m in decision.more_mail] == ["agent_confirmation"]
    assert decision.more_mail[0].to == AGENT
    assert ("agent_reply", "by sam@healthsync.com, by email") in [
        (e.type, e.detail) for e in decision.events]


def test_a_comment_mails_no_customer() -> None:
    decision = agent_mail("#status waiting\nShe owes us a reply, chasing Monday.",
                             comment=True)
    assert decision.outcome == Outcome.AGENT_COMMENT
    assert decision.note == "She owes us a reply, chasing Monday." and not decision.agent_text
    sent = [r for r in (decision.reply, *decision.more_mail) if r is not None]
    assert [(r.template, r.to) for r in sent] == [("agent_confirmation", AGENT)]
    assert decision.new_status == Status.WAITING


def test_note_only_turns_an_answer_into_a_comment() -> None:
    decision = agent_mail("#note-only\nInternal: the card was expired.")
    assert decision.outcome == Outcome.AGENT_COMMENT
    assert "alice@example.org" not in [r.to for r in (decision.reply, *decision.more_mail)
                                       if r is not None]


def test_commands_alone_relay_nothing_but_the_status_mail_the_cli_sends() -> None:
    decision = agent_mail("#status resolved\n\n-- \nSam")
    assert decision.outcome == Outcome.AGENT_ANSWER and decision.agent_text == ""
    sent = [(r.template, r.to) for r in (decision.reply, *decision.more_mail) if r]
    assert sent == [("status_resolved", "alice@example.org"), ("agent_confirmation", AGENT)]


def test_an_answer_to_a_closed_ticket_reopens_it_as_the_agent() -> None:
    closed = replace(TICKET, status=Status.CLOSED, closed_at=NOW)
    decision = agent_mail("We found the cause after all.", ticket=closed)
    assert decision.outcome == Outcome.AGENT_ANSWER and decision.new_status == Status.OPEN
    assert ("status", f"closed -> open by {AGENT}'s mail") in [
        (e.type, e.detail) for e in decision.events]
    assert decision.more_mail == ()  # no command lines: no confirmation


def test_escalate_tells_the_team() -> None:
    decision = agent_mail("#escalate\nLooping in the leads.")
    assert decision.notify == ("escalated",)


@pytest.mark.parametrize("sender, made_for, ticket", [
    ("bob@healthsync.com", AGENT, TICKET),  # agent A's tag used by agent B
    (AGENT, None, TICKET),  # a tag that verifies for nobody
    ("mallory@evil.example", AGENT, TICKET),
])
def test_a_tag_not_made_for_the_sender_is_refused_and_nothing_applied(
        sender: str, made_for: str | None, ticket: TicketRef) -> None:
    decision = agent_mail("#status closed\nPay at evil.example", sender=sender,
                             made_for=made_for, ticket=ticket)
    assert decision.outcome == Outcome.AGENT_REFUSED
    assert decision.new_status is None and decision.agent_text == "" and not decision.commands
    assert (decision.reply.template, decision.reply.to) == ("agent_refused", sender)
    assert decision.more_mail == () and decision.notify == ("refused_tag",)
    assert [e.type for e in decision.events] == ["agent_refused"]


def test_a_refusal_is_rate_limited_and_a_missing_ticket_gets_none() -> None:
    mail = inbound(from_addr="mallory@evil.example", text="x", own_text="x")
    limited = decide(mail, ctx(agent_address=AgentAddress("HS-111111", False, TICKET, None),
                               recent_autoreplies_to_sender=99), SETTINGS, NOW)
    assert limited.outcome == Outcome.AGENT_REFUSED and limited.reply is None
    missing = decide(mail, ctx(agent_address=AgentAddress("HS-999999", False, None, None)),
                     SETTINGS, NOW)
    assert missing.outcome == Outcome.AGENT_REFUSED and missing.reply is None
    assert missing.notify == ("refused_tag",)


@pytest.mark.parametrize("subject", ["Automatic reply: [HS-111111] Invoice",
                                     "Abwesenheitsnotiz: [HS-111111] Invoice",
                                     "Out of Office: back Monday"])
def test_an_out_of_office_by_its_subject_alone_changes_nothing(subject: str) -> None:
    decision = agent_mail("I am away until Monday.", subject=subject)
    assert decision.outcome == Outcome.AUTOMATIC
    assert decision.reply is None and decision.more_mail == () and decision.notify == ()


def test_an_out_of_office_by_its_headers_changes_nothing() -> None:
    decision = agent_mail("I am away until Monday.",
                             loop_headers={"auto-submitted": "auto-replied"})
    assert decision.outcome == Outcome.AUTOMATIC and decision.new_status is None


GMAIL = """Hello Alice, the refund is on its way.

On Sat, Nov 28, 2026 at 10:00 AM Billing team <
billing+HS-111111-abcdefghijklmnop@healthsync.com> wrote:

> New ticket HS-111111 from alice@example.org
> I was charged twice.
"""


def test_gmails_wrapped_attribution_line_is_cut() -> None:
    decision = agent_mail(GMAIL)
    assert decision.agent_text == "Hello Alice, the refund is on its way."


def test_a_reply_address_never_reaches_the_customer() -> None:
    decision = agent_mail("Write to billing+HS-111111-abcdefghijklmnop@healthsync.com or "
                          "billing+HS-111111-abcdefghijklmnop-comment@healthsync.com.")
    assert decision.agent_text == \
        "Write to billing@healthsync.com or billing@healthsync.com."
