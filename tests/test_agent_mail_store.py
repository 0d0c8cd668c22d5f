"""Issue 16: the context reads a reply address, and the store writes what an agent's mail
decided, on a real ticket database (context.py, store/apply.py)."""

from __future__ import annotations

from dataclasses import replace

from maildaemon.config import Config
from maildaemon.context import ContextLoader
from maildaemon.domain import Attachment, Outcome, Priority, Status
from maildaemon.policy.decide import decide
from maildaemon.policy.quoting import own_text
from maildaemon.policy.replyaddress import reply_address
from maildaemon.store import Rendered, TicketStore
from maildaemon.worker import policy_settings
from tests.backends import NOW, mail, open_ticket

SECRET = b"s" * 32
SAM, KIM = "sam@healthsync.com", "kim@healthsync.com"
SETTINGS = replace(policy_settings(Config()), teams={"support": (SAM,), "default": (KIM,)})
PNG = Attachment("shot.png", "image/png", "image/png", 10, "ab" * 32, data=b"x" * 10)


def agent_mail(number: str, text: str, sender: str = SAM, agent: str = SAM,
               comment: bool = False):  # type: ignore[no-untyped-def]
    address = reply_address(SECRET, "support", "healthsync.com", number, agent, comment)
    return replace(mail(message_id=f"<{text[:8]}@healthsync.com>", body=text,
                        from_addr=sender, subject="Re: Pump stopped"),
                   envelope_rcpts=(address,), own_text=own_text(text), attachments=(PNG,))


def test_the_context_reads_the_reply_address_and_checks_the_tag_against_the_team(
        ticket_store: TicketStore) -> None:
    number = open_ticket(ticket_store, mail())
    loader = ContextLoader(ticket_store, SETTINGS, SECRET)
    found = loader.load(agent_mail(number, "hi"), NOW).agent_address
    assert found is not None and found.ticket is not None
    assert (found.number, found.comment, found.made_for) == (number, False, SAM)
    assert number in loader.load(agent_mail(number, "hi"), NOW).attachment_usage
    # Kim is on the default team, not on support's: her tag verifies for nobody here.
    kims = loader.load(agent_mail(number, "hi", KIM, KIM), NOW).agent_address
    assert kims is not None and kims.made_for is None
    assert loader.load(mail(), NOW).agent_address is None


def test_an_answer_with_commands_is_written_as_the_cli_would(
        ticket_store: TicketStore) -> None:
    number = open_ticket(ticket_store, mail())
    inbound = agent_mail(number, "#status waiting\n#priority high\n#assign me\n\nSend logs?")
    loader = ContextLoader(ticket_store, SETTINGS, SECRET)
    decision = decide(inbound, loader.load(inbound, NOW), SETTINGS, NOW)
    assert decision.outcome == Outcome.AGENT_ANSWER
    with ticket_store.transaction():
        ticket_store.apply(decision, inbound, b"raw", "s2", NOW, Rendered(number))
    ref = ticket_store.ticket_ref(number)
    assert ref is not None and ref.status == Status.WAITING
    assert (ref.priority, ref.assignee) == (Priority.HIGH, SAM)
    assert ticket_store.due_tickets(NOW.replace(year=2027), 10)  # the reminder's timer runs
    assert ticket_store.attachment_usage(number).files == 1


def test_a_refusal_keeps_the_mail_off_the_ticket(ticket_store: TicketStore) -> None:
    number = open_ticket(ticket_store, mail())
    inbound = agent_mail(number, "#status closed\nPay at evil.example", sender=KIM)
    loader = ContextLoader(ticket_store, SETTINGS, SECRET)
    decision = decide(inbound, loader.load(inbound, NOW), SETTINGS, NOW)
    assert decision.outcome == Outcome.AGENT_REFUSED
    with ticket_store.transaction():
        assert ticket_store.apply(decision, inbound, b"raw", "s3", NOW,
                                  Rendered(number)) == number
    ref = ticket_store.ticket_ref(number)
    assert ref is not None and ref.status == Status.NEW
    assert ticket_store.attachment_usage(number).files == 0
    assert ticket_store.received_before(inbound.message_id, inbound.dedup_key)
