"""The SMTP listener of a real `maildaemon serve` process, spoken to over 127.0.0.1."""

from __future__ import annotations

import smtplib

import pytest

from tests.conftest import DOMAIN, Installation, mail

pytestmark = pytest.mark.slow  # every test here starts `maildaemon serve`


def test_banner_names_no_software_version(shared_daemon: Installation) -> None:
    with shared_daemon.smtp() as client:
        code, banner = client.ehlo()
        assert code == 250
        welcome = client.docmd("NOOP")
    assert b"Python" not in banner and b"aiosmtpd" not in banner
    assert welcome[0] == 250


def test_greeting_line_has_no_version(shared_daemon: Installation) -> None:
    import socket

    with socket.create_connection(("127.0.0.1", shared_daemon.port), timeout=5) as sock:
        greeting = sock.recv(1024)
    assert greeting.startswith(b"220 ")
    assert b"ESMTP" in greeting
    assert b"Python" not in greeting and b"1." not in greeting


def test_ehlo_advertises_size_8bitmime_smtputf8(shared_daemon: Installation) -> None:
    with shared_daemon.smtp() as client:
        client.ehlo()
        assert client.has_extn("size")
        assert client.esmtp_features["size"] == "200000"
        assert client.has_extn("8bitmime")
        assert client.has_extn("smtputf8")


def test_unknown_mailbox_is_550_5_1_1(shared_daemon: Installation) -> None:
    with shared_daemon.smtp() as client:
        client.ehlo()
        client.mail("x@example.org")
        code, text = client.rcpt(f"nobody@{DOMAIN}")
    assert code == 550 and text.startswith(b"5.1.1")


def test_foreign_domain_is_550_5_7_1_never_relayed(shared_daemon: Installation) -> None:
    with shared_daemon.smtp() as client:
        client.ehlo()
        client.mail("x@example.org")
        code, text = client.rcpt("victim@elsewhere.example")
        code2, _ = client.rcpt(f"support@sub.{DOMAIN}")
    assert code == 550 and text.startswith(b"5.7.1")
    assert code2 == 550


def test_every_configured_address_is_accepted_case_insensitively(
    shared_daemon: Installation,
) -> None:
    with shared_daemon.smtp() as client:
        client.ehlo()
        client.mail("x@example.org")
        for local in ("support", "tech", "billing", "bugs", "escalation", "Support"):
            code, _ = client.rcpt(f"{local}@{DOMAIN.upper()}")
            assert code == 250, local
        client.rset()


def test_oversized_message_is_552(shared_daemon: Installation) -> None:
    big = mail(sender="big@example.org", body="x" * 250_000)
    with pytest.raises(smtplib.SMTPException) as info:
        shared_daemon.send(big)
    assert "552" in str(info.value)


def test_declared_size_over_limit_is_552_at_mail_from(shared_daemon: Installation) -> None:
    with shared_daemon.smtp() as client:
        client.ehlo()
        code, _ = client.mail("x@example.org", options=["SIZE=999999999"])
    assert code == 552


def test_smtputf8_and_8bit_body_are_accepted_and_decoded(shared_daemon: Installation) -> None:
    raw = (
        "From: Jürgen Müller <jürgen@exämple.org>\r\n"
        f"To: support@{DOMAIN}\r\n"
        "Subject: Grüße aus Köln\r\n"
        "Message-ID: <utf8-1@example.org>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
        "Die Straße ist gesperrt.\r\n"
    ).encode()
    with shared_daemon.smtp() as client:
        client.ehlo()
        client.sendmail("jürgen@exämple.org", [f"support@{DOMAIN}"], raw,
                        mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    tickets = shared_daemon.wait_processed(1)
    ticket = next(t for t in tickets if t["subject"] == "Grüße aus Köln")
    shown = shared_daemon.show(ticket["number"])
    assert shown["requester"] == "jürgen@exämple.org"
    assert "Straße" in shown["messages"][0]["text"]
