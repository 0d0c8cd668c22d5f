"""Issue 18 ("also"): a From field with a malformed encoded word, or worse, must still give
the sender's real mailbox, and a string that is not an address is never mailed.

The broken fields are as real mailers and spammers write them: an encoded word that lost its
`?=`, a display name with a comma or an address in it, a lone quote.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from maildaemon.config import Config
from maildaemon.domain import Context, InboundMail, Outcome
from maildaemon.parse import parse_mail
from maildaemon.policy.decide import decide
from maildaemon.worker import policy_settings
from tests.conftest import DOMAIN, Installation, wait_until

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def sender_of(from_field: str) -> tuple[str, str]:
    raw = f"From: {from_field}\r\nTo: support@{DOMAIN}\r\nSubject: x\r\n\r\nbody\r\n"
    mail = parse_mail(raw.encode())
    return mail.from_name, mail.from_addr


@pytest.mark.parametrize("from_field, name, address", [
    # an encoded word with a comma: the address parser saw two mailboxes
    ("=?utf-8?q?M=C3=BCller,_Hans?= <hans@example.org>", "Müller, Hans", "hans@example.org"),
    # a lone quote in an unterminated encoded word: nothing was found at all
    ('=?utf-8?q?J=C3=B6rg_"broken <jorg@example.org>', '=?utf-8?q?J=C3=B6rg_"broken',
     "jorg@example.org"),
    ("J=C3=B6rg broken@x <jorg@example.org>", "J=C3=B6rg broken@x", "jorg@example.org"),
    # a semicolon or a colon cut the name into a group
    ("=?utf-8?q?J=C3=B6rg;broken <jorg@example.org>", "=?utf-8?q?J=C3=B6rg;broken",
     "jorg@example.org"),
    ("=?utf-8?q?J=C3=B6rg:broken <jorg@example.org>", "=?utf-8?q?J=C3=B6rg:broken",
     "jorg@example.org"),
])
def test_the_mailbox_in_angle_brackets_wins_over_a_broken_name(
        from_field: str, name: str, address: str) -> None:
    assert sender_of(from_field) == (name, address)


def test_an_address_in_the_display_name_is_not_the_sender() -> None:
    """Unquoted or encoded, the one in <> is the mailbox; and reading mailbox-first must
    not become a way to claim the address in a quoted name either."""
    assert sender_of("support@healthsync.com <eve@evil.example>") == \
        ("support@healthsync.com", "eve@evil.example")
    assert sender_of("=?utf-8?q?support@healthsync.com?= <eve@evil.example>") == \
        ("support@healthsync.com", "eve@evil.example")
    assert sender_of('"Sam <sam@healthsync.com>" <eve@evil.example>')[1] == "eve@evil.example"


# -- the decision never mails such a string ----------------------------------------------------

def mail_from(address: str) -> InboundMail:
    return InboundMail(
        message_id="<m1@example.org>", dedup_key="k1", from_addr=address, from_name="",
        to=(f"support@{DOMAIN}",), cc=("ok@example.net", "=?utf-8?q?x?=@example.net"),
        subject="Help", date=None, in_reply_to=(), references=(), loop_headers={},
        content_type="text/plain", text="hi", envelope_sender="sender@example.org",
        envelope_rcpts=(), raw_sha256="0", size=10)


@pytest.mark.parametrize("address", ["a b@example.org", "a..b@example.org",
                                     "=?utf-8?q?j=c3=b6rg_x?=@example.org",
                                     "x" * 70 + "@example.org"])
def test_an_unmailable_sender_gets_a_ticket_and_no_answer(address: str) -> None:
    ctx = Context(already_processed=False, header_hit=None, subject_tickets=(),
                  recent_autoreplies_to_sender=0)
    decision = decide(mail_from(address), ctx, policy_settings(Config()), NOW)
    assert decision.outcome == Outcome.NEW_TICKET and decision.reply is None
    assert decision.new_ticket is not None
    assert decision.new_ticket.requester == address
    assert decision.new_ticket.participants == (address, "ok@example.net")
    assert any(line.startswith("undeliverable: ") for line in decision.trace)


# -- end to end -------------------------------------------------------------------------------

def send(inst: Installation, from_field: str, message_id: str) -> None:
    raw = (f"From: {from_field}\r\nTo: support@{DOMAIN}\r\nSubject: Sync fails\r\n"
           f"Message-ID: <{message_id}@example.org>\r\n"
           "Date: Sat, 28 Nov 2026 10:00:00 +0000\r\n\r\nIt stops at 42%.\r\n").encode()
    with inst.smtp() as client:
        client.sendmail("jorg@example.org", [f"support@{DOMAIN}"], raw)


@pytest.mark.slow
def test_broken_from_fields_over_smtp(tmp_path: Path) -> None:
    inst = Installation(tmp_path)
    inst.start()
    try:
        send(inst, '=?utf-8?q?J=C3=B6rg_"broken <jorg@example.org>', "broken-1")
        send(inst, "Broken <a b@example.org>", "broken-2")
        tickets = inst.wait_processed(2)
        wait_until(lambda: json.loads(inst.cli("outbox", "ls", "--json").stdout) == [], 20,
                   "nothing pending in the outbox")
        rows = json.loads(inst.cli("outbox", "ls", "--all", "--json").stdout)
    finally:
        inst.kill()
    assert sorted(t["requester"] for t in tickets) == ["a b@example.org", "jorg@example.org"]
    [ack] = inst.outbound()
    assert b"\nTo: jorg@example.org\n" in ack.replace(b"\r\n", b"\n")
    assert len(rows) == 1
