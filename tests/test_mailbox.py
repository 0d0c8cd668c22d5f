"""What may stand in an envelope (issue 18): RFC 5321 mailboxes with RFC 6531 UTF-8, and the
encoded word that a mailer without SMTPUTF8 writes into an address, read back."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from maildaemon.mailbox import decode_encoded_local_part
from maildaemon.parse import parse_mail
from maildaemon.policy.mailbox import mailbox_problem


@pytest.mark.parametrize("address", [
    "ann@example.org", "jörg@example.org", "ann@bücher.de", "o'neil+tag@mail.example.org",
    '"ann smith"@example.org', "ann@[192.0.2.1]", "ann@[IPv6:2001:db8::1]", "root@localhost",
])
def test_mailboxes(address: str) -> None:
    assert mailbox_problem(address) is None


@pytest.mark.parametrize(("address", "reason"), [
    ("", "empty address"),
    ("Jörg broken", "no local part@domain"),
    ("=?utf-8?q?j=c3=b6rg?=@example.org", "an RFC 2047 encoded word is not an address"),
    ("bob@example.org\r\nRCPT TO:<eve@example.net>", "not a valid address"),
    ("a..b@example.org", "local part"),
    ("ann@-example.org", "domain"),
    ("ann@[999.1.1.1]", "domain"),
    ("a" * 65 + "@example.org", "too long"),
    ("ann smith@example.org", "local part"),
])
def test_not_mailboxes(address: str, reason: str) -> None:
    problem = mailbox_problem(address)
    assert problem is not None and reason in problem


def test_an_address_python_wrote_without_smtputf8_reads_back_as_the_address() -> None:
    msg = EmailMessage()
    msg["From"] = "Jörg <jörg@example.org>"
    msg["To"] = "support@healthsync.com"
    msg["Subject"] = "Drucker"
    msg.set_content("kaputt")
    raw = msg.as_bytes()
    assert b"=?utf-8?q?j=C3=B6rg?=@example.org" in raw  # what the relay got mailed to

    mail = parse_mail(raw, envelope_sender=None, envelope_rcpts=())
    assert mail.from_addr == "jörg@example.org"


def test_only_a_local_part_of_encoded_words_is_decoded() -> None:
    assert decode_encoded_local_part("=?utf-8?b?asOkcmc=?=@example.org") == "järg@example.org"
    for kept in ("x=?utf-8?q?j=C3=B6rg?=@example.org", "=?utf-8?b?invalid===?=@example.org",
                 "=?utf-8?q?a_b?=@example.org", "ann@example.org"):
        assert decode_encoded_local_part(kept) == kept
