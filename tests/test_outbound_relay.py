"""Outbound delivery through an SMTP relay: a real aiosmtpd sink started by the test.

The sink is the one fake we allow (an outbound relay is not ours); it can answer 421, 451 or
550 on demand, so we see retries, backoff, exactly-once delivery and failed entries kept.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.conftest import DOMAIN, Installation, free_port, mail, wait_until
from tests.outbound_sink import relay_config


class Sink:
    """Records delivered messages; answers the next codes in `script` first."""

    def __init__(self) -> None:
        self.script: list[str] = []
        self.received: list[tuple[str, list[str], bytes]] = []
        self.refusals = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.script:
            self.refusals += 1
            return self.script.pop(0)
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos),
                              envelope.original_content))
        return "250 OK"


@pytest.fixture
def sink() -> Iterator[tuple[Sink, int]]:
    handler = Sink()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


def relay_installation(tmp: Path, port: int) -> Installation:
    return Installation(tmp, extra_config=relay_config(port))


@pytest.mark.slow
def test_relay_outage_then_recovery_delivers_each_message_once(
    tmp_path: Path, sink: tuple[Sink, int]
) -> None:
    handler, port = sink
    handler.script = ["421 4.3.2 try later", "451 4.3.0 busy"]
    inst = relay_installation(tmp_path, port)
    inst.start()
    try:
        inst.send(mail(sender="relay1@example.org", message_id="<relay-1@example.org>"))
        inst.send(mail(sender="relay2@example.org", message_id="<relay-2@example.org>"))
        wait_until(lambda: len(handler.received) == 2, 30, "both acks at the relay")
        assert handler.refusals == 2
        rcpts = sorted(r[1][0] for r in handler.received)
        assert rcpts == ["relay1@example.org", "relay2@example.org"]
        assert all(r[0] == f"support@{DOMAIN}" for r in handler.received)
        pending = json.loads(inst.cli("outbox", "ls", "--json").stdout)
        assert pending == []
        sent = json.loads(inst.cli("outbox", "ls", "--all", "--json").stdout)
        assert [row["status"] for row in sent] == ["sent", "sent"]
    finally:
        inst.kill()
    assert len(handler.received) == 2  # nothing doubled after the outage


@pytest.mark.slow
def test_relay_refusing_with_550_leaves_a_failed_entry_listed(
    tmp_path: Path, sink: tuple[Sink, int]
) -> None:
    handler, port = sink
    handler.script = ["550 5.1.1 no such user"]
    inst = relay_installation(tmp_path, port)
    inst.start()
    try:
        inst.send(mail(sender="gone@example.org"))

        def failed() -> list[dict[str, Any]]:
            rows = json.loads(inst.cli("outbox", "ls", "--json").stdout)
            return [r for r in rows if r["status"] == "failed"]

        [row] = wait_until(failed, 20, "a failed outbox entry")
        assert row["rcpt_to"] == "gone@example.org"
        assert "550" in row["last_error"]
        text = inst.cli("outbox", "ls").stdout
        assert "failed" in text and "550 5.1.1 no such user" in text
        assert handler.received == []
    finally:
        inst.kill()


@pytest.mark.slow
def test_relay_down_for_good_gives_up_after_max_attempts_and_keeps_it(
    tmp_path: Path,
) -> None:
    inst = relay_installation(tmp_path, free_port())  # nothing listens there
    inst.start()
    try:
        inst.send(mail(sender="nowhere@example.org"))

        def failed() -> list[dict[str, Any]]:
            rows = json.loads(inst.cli("outbox", "ls", "--json").stdout)
            return [r for r in rows if r["status"] == "failed"]

        [row] = wait_until(failed, 30, "the outbox to give up")
        assert row["attempts"] == 4
        assert row["last_error"].startswith("gave up")
    finally:
        inst.kill()


def test_starttls_and_authentication_with_the_relay(tmp_path: Path) -> None:
    import ssl
    import subprocess

    from aiosmtpd.smtp import AuthResult

    cert, key = tmp_path / "relay.pem", tmp_path / "relay.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str,
                      auth_data: Any) -> AuthResult:
        logins.append((auth_data.login, auth_data.password))
        ok = (auth_data.login, auth_data.password) == (b"maildaemon", b"s3cret")
        return AuthResult(success=ok)

    handler = Sink()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, tls_context=context,
                            require_starttls=True, auth_required=True,
                            authenticator=authenticator)
    controller.start()
    (tmp_path / "relay.password").write_text("s3cret\n")
    inst = Installation(tmp_path, extra_config=f"""transport = "smtp"
relay_host = "127.0.0.1"
relay_port = {port}
starttls = true
ca_file = "{cert}"
username = "maildaemon"
password_file = "{tmp_path / 'relay.password'}"
""")
    try:
        inst.cli("ingest", str(Path(__file__).parent.parent / "fixtures/emails/plain_new.eml"))
        assert len(handler.received) == 1
        assert logins == [(b"maildaemon", b"s3cret")]
    finally:
        controller.stop()
