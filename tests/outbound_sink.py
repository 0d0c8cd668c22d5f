"""A relay for the outbound tests: a real aiosmtpd server on 127.0.0.1 started by the test.

The one fake we allow (the relay is not ours). It records every transaction as the relay saw
it: the EHLO name, whether SMTPUTF8 was asked for, the envelope and the exact bytes; it can
refuse chosen recipients at RCPT while taking the others.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from tests.conftest import Installation, free_port, wait_until


@dataclass(frozen=True)
class Transaction:
    ehlo_name: str
    smtputf8: bool
    mail_from: str
    rcpt_tos: list[str]
    data: bytes


@dataclass
class RecordingRelay:
    refuse: dict[str, str] = field(default_factory=dict)  # address -> RCPT reply
    received: list[Transaction] = field(default_factory=list)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(Transaction(
            session.host_name, bool(envelope.smtp_utf8), envelope.mail_from,
            list(envelope.rcpt_tos), envelope.original_content))
        return "250 OK"

    def to(self, address: str) -> list[Transaction]:
        return [t for t in self.received if address in t.rcpt_tos]


@contextmanager
def relay(smtputf8: bool) -> Iterator[tuple[RecordingRelay, int]]:
    handler = RecordingRelay()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port,
                            enable_SMTPUTF8=smtputf8)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def relay_config(port: int) -> str:
    return f"""transport = "smtp"
relay_host = "127.0.0.1"
relay_port = {port}
max_attempts = 4
retry_base_seconds = 0.2
retry_max_seconds = 1.0
timeout = 5.0
"""


def set_config(inst: Installation, section: str, line: str) -> None:
    """Add `line` to a section the harness writes itself ([mail], [smtp])."""
    text = inst.config.read_text()
    inst.config.write_text(text.replace(f"[{section}]\n", f"[{section}]\n{line}\n", 1))


def outbox(inst: Installation) -> list[dict[str, Any]]:
    return list(json.loads(inst.cli("outbox", "ls", "--all", "--json").stdout))


def wait_outbox_settled(inst: Installation, timeout: float = 30) -> list[dict[str, Any]]:
    """Every row sent or failed: nothing pending any more."""
    return list(wait_until(
        lambda: (rows := outbox(inst)) and all(r["status"] != "pending" for r in rows)
        and rows, timeout, "nothing pending in the outbox"))


def database(inst: Installation) -> sqlite3.Connection:
    return sqlite3.connect(inst.tmp / "data" / "maildaemon.sqlite3")


def raw_mail(sender: str, subject: str, message_id: str, cc: str = "") -> bytes:
    """A message as a mailer writes it, header bytes as given (UTF-8 where a name is)."""
    lines = [f"From: {sender}", "To: support@healthsync.com", *([f"Cc: {cc}"] if cc else []),
             f"Subject: {subject}", f"Message-ID: {message_id}",
             "Date: Sat, 28 Nov 2026 10:00:00 +0000", "MIME-Version: 1.0",
             "Content-Type: text/plain; charset=utf-8", "", "Hello, it does not work.", ""]
    return "\r\n".join(lines).encode("utf-8")


def write_mails(tmp: Path, *mails: bytes) -> list[str]:
    paths = []
    for i, data in enumerate(mails):
        path = tmp / f"in{i}.eml"
        path.write_bytes(data)
        paths.append(str(path))
    return paths
