"""LMTP and the recipient limit without a daemon: the configuration's refusals, the reply
naming its recipient, and `smtp.max_recipients` at the handler (test_lmtp_e2e.py runs the
same against the real `serve`)."""

from __future__ import annotations

import asyncio
import smtplib
from pathlib import Path

import pytest
from aiosmtpd.smtp import Envelope, Session

from maildaemon.config import Config, config_from_dict
from maildaemon.lmtp import EdgeLMTP, with_recipient
from maildaemon.smtp_in import GroupCommitter, Handler
from maildaemon.spool import Spool
from maildaemon.worker import policy_settings
from tests.conftest import DOMAIN, ServerThread, assert_check_config_refuses


@pytest.mark.parametrize(("section", "key"), [
    ('[smtp]\nprotocol = "esmtp"\n', "smtp.protocol"),
    ('[smtp]\nprotocol = "LMTP "\n', "smtp.protocol"),
    ('[smtp]\nsocket_mode = "rw-rw----"\n', "smtp.socket_mode"),
    ('[smtp]\nsocket_mode = "0666"\n', "smtp.socket_mode"),  # world-writable
    ('[smtp]\nsocket_mode = 660\n', "smtp.socket_mode"),  # a number, not the octal text
    ('[smtp]\nsocket = " /run/maildaemon/lmtp.sock"\n', "smtp.socket"),
    ('[smtp]\nsocket = "/run/' + "d" * 120 + '/lmtp.sock"\n', "smtp.socket"),
    ('[smtp]\nmax_recipients = 0\n', "smtp.max_recipients"),
    ('[smtp]\nmax_recipients = 1000000\n', "smtp.max_recipients"),
])
def test_check_config_refuses(tmp_path: Path, section: str, key: str) -> None:
    assert_check_config_refuses(tmp_path, section, key)


def test_the_listener_keys_load() -> None:
    smtp = config_from_dict({"smtp": {"protocol": "lmtp", "socket": "/run/md/lmtp.sock",
                                      "socket_mode": "0600", "socket_group": "postfix",
                                      "max_recipients": 5}}).smtp
    assert (smtp.protocol, smtp.socket, smtp.socket_mode, smtp.socket_group,
            smtp.max_recipients) == ("lmtp", "/run/md/lmtp.sock", "0600", "postfix", 5)
    defaults = config_from_dict({}).smtp
    assert (defaults.protocol, defaults.socket, defaults.max_recipients) == ("smtp", "", 100)


@pytest.mark.parametrize(("status", "expected"), [
    ("250 2.0.0 OK queued as 2026X", "250 2.0.0 <a@h.com> OK queued as 2026X"),
    ("451 4.3.0 Temporary failure, please try again later",
     "451 4.3.0 <a@h.com> Temporary failure, please try again later"),
    ("552 5.3.4 Message size exceeds fixed maximum message size",
     "552 5.3.4 <a@h.com> Message size exceeds fixed maximum message size"),
    ("250 OK", "250 <a@h.com> OK"),  # no enhanced code: the text follows the code
])
def test_an_lmtp_reply_names_its_recipient(status: str, expected: str) -> None:
    assert with_recipient(status, "a@h.com") == expected


@pytest.mark.parametrize("limit", [1, 3, 100])
def test_the_recipient_after_the_limit_gets_452(tmp_path: Path, limit: int) -> None:
    config = config_from_dict({"smtp": {"max_recipients": limit}})
    committer = GroupCommitter(Spool(tmp_path))
    handler = Handler(policy_settings(config), committer, config.smtp.max_recipients)
    envelope = Envelope()

    async def transaction() -> list[str]:
        session = Session(asyncio.get_running_loop())

        async def rcpt(address: str) -> str:
            return await handler.handle_RCPT(None, session, envelope,  # type: ignore[arg-type]
                                             address, [])

        replies = [await rcpt(f"nobody-{n}@{DOMAIN}") for n in range(3)]  # not counted
        replies += [await rcpt(f"support@{DOMAIN}") for _ in range(limit + 2)]
        return replies

    try:
        replies = asyncio.run(transaction())
    finally:
        committer.close()
    assert [r[:3] for r in replies[:3]] == ["550"] * 3
    assert [r[:3] for r in replies[3:3 + limit]] == ["250"] * limit
    assert replies[3 + limit:] == ["452 4.5.3 Too many recipients"] * 2
    assert len(envelope.rcpt_tos) == limit


class LmtpListener(ServerThread):
    """Our LMTP edge on a real 127.0.0.1 listener in a thread, with a spool the test can
    break (as test_smtp_faults.py does for SMTP)."""

    def __init__(self, spool: Spool, size_limit: int = 78_643_200) -> None:
        self.spool = spool
        self.committer = GroupCommitter(spool)
        handler = Handler(policy_settings(Config()), self.committer)
        super().__init__(lambda loop: EdgeLMTP(handler, set(), hostname="test", ident="LMTP",
                                               loop=loop, data_size_limit=size_limit))

    def close(self) -> None:
        super().close()
        self.committer.close()


def data_replies(port: int, size: int) -> list[tuple[int, bytes]]:
    """Two accepted recipients, one refused; the replies after DATA."""
    with smtplib.LMTP("127.0.0.1", port, timeout=10) as client:
        client.ehlo("mx.example.org")
        client.mail("alice@example.org")
        codes = [client.rcpt(a)[0] for a in (f"support@{DOMAIN}", f"x@{DOMAIN}",
                                              f"tech@{DOMAIN}")]
        assert codes == [250, 550, 250]
        assert client.docmd("DATA")[0] == 354
        client.send(b"Subject: s\r\n\r\n" + b"x" * size + b"\r\n.\r\n")
        replies = [client.getreply(), client.getreply()]
        noop = client.docmd("NOOP")
        assert noop[0] == 250 and b"<" not in noop[1]  # no third reply was waiting
        return replies


def test_a_failed_spool_write_answers_451_to_every_recipient(tmp_path: Path) -> None:
    listener = LmtpListener(Spool(tmp_path))
    try:
        listener.spool.conn.close()  # the disk goes away under the edge
        replies = data_replies(listener.port, 10)
    finally:
        listener.close()
    assert [(code, text[:6]) for code, text in replies] == [(451, b"4.3.0 ")] * 2
    assert [text.split()[1] for _, text in replies] == [f"<support@{DOMAIN}>".encode(),
                                                        f"<tech@{DOMAIN}>".encode()]


def test_a_message_over_the_size_limit_gets_552_for_every_recipient(tmp_path: Path) -> None:
    listener = LmtpListener(Spool(tmp_path), size_limit=2048)
    try:
        replies = data_replies(listener.port, 4096)
    finally:
        listener.close()
    assert [(code, text[:6]) for code, text in replies] == [(552, b"5.3.4 ")] * 2
    assert Spool(tmp_path).rows() == []
