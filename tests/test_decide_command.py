"""`maildaemon decide FILE.eml`: the pipeline's verdict on a message, changing nothing.

The database is filled by the real worker (in this process, or by `maildaemon ingest`), then
`decide` runs on fixture mails, a reply to an existing ticket and a stranger's mail naming
one; every file of the data directory must hash the same afterwards.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from maildaemon.config import Config, config_from_dict
from maildaemon.explain import explain
from maildaemon.policy.decide import STEPS
from maildaemon.spool import Incoming
from maildaemon.store import Store
from maildaemon.store.readonly import ReadOnlyStore
from maildaemon.workproc import worker_parts
from tests.conftest import FIXTURES, Installation, header_of

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
SIDE_FILES = {"maildaemon.sqlite3-wal", "maildaemon.sqlite3-shm"}  # any reader's, empty


def opening(message_id: str = "<fire@example.org>", sender: str = "ann@example.org") -> bytes:
    return (f"From: {sender}\r\nTo: support@healthsync.com\r\nSubject: Printer on fire\r\n"
            f"Message-ID: {message_id}\r\nDate: Sat, 28 Nov 2026 09:00:00 +0000\r\n\r\n"
            "The printer is on fire.\r\n").encode()


def answer(number: str, sender: str, in_reply_to: str = "") -> bytes:
    refs = f"In-Reply-To: {in_reply_to}\r\nReferences: {in_reply_to}\r\n" if in_reply_to \
        else ""
    return (f"From: {sender}\r\nTo: support@healthsync.com\r\nSubject: Re: [{number}] "
            f"Printer on fire\r\nMessage-ID: <re-{sender}>\r\n{refs}"
            "Date: Sat, 28 Nov 2026 11:00:00 +0000\r\n\r\nStill burning.\r\n").encode()


def fingerprint(data_dir: Path) -> dict[str, str]:
    return {str(p.relative_to(data_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(data_dir.rglob("*")) if p.is_file()}


def unchanged(before: dict[str, str], after: dict[str, str]) -> bool:
    """Every file as it was; new ones only SQLite's side files of a reader."""
    return {k: after.get(k) for k in before} == before and \
        set(after) - set(before) <= SIDE_FILES


@pytest.fixture
def filled(tmp_path: Path) -> Iterator[tuple[Config, str]]:
    """A data directory holding one ticket (ann's), every connection to it closed."""
    config = config_from_dict({"storage": {"data_dir": str(tmp_path / "data")},
                               "outbound": {"maildir": str(tmp_path / "out")}})
    parts = worker_parts(config, lambda: NOW)
    parts.spool.put_many([Incoming("ann@example.org", ("support@healthsync.com",),
                                   opening(), "test")])
    [done] = parts.worker.process_batch()
    parts.checkpointer.stop()
    for store in (parts.worker.store, parts.sender.store):
        assert isinstance(store, Store)
        store.close()
    parts.spool.close()
    assert done.ticket is not None
    yield config, done.ticket


def decided(config: Config, raw: bytes, rcpts: tuple[str, ...] = (),
            now: datetime = NOW) -> dict[str, Any]:
    store = ReadOnlyStore(config.data_dir)
    try:
        return explain(config, store, raw, None, rcpts, now)
    finally:
        store.close()


def test_a_reply_joins_its_ticket_and_nothing_is_written(filled: tuple[Config, str]) -> None:
    config, number = filled
    before = fingerprint(config.data_dir)
    # An hour after the acknowledgement (as the reply's Date says): a receipt is due again.
    data = decided(config, answer(number, "ann@example.org", "<fire@example.org>"),
                   now=NOW + timedelta(hours=1))
    assert unchanged(before, fingerprint(config.data_dir))
    assert data["outcome"] == "followup" and data["ticket"] == number
    assert data["replies"] == [{"template": "reply_received", "to": "ann@example.org",
                                "from": "support@healthsync.com",
                                "subject": f"[{number}] Printer on fire"}]  # the ticket's subject
    hits = [(t["step"], t["detail"]) for t in data["trace"] if t["hit"]]
    assert hits == [("header_thread", f"stored_message_id <fire@example.org> -> {number}"),
                    ("customer_reply", f"ann@example.org follows up {number}")]
    assert [t["step"] for t in data["trace"]][:7] == [
        "duplicate", "automated", "agent_mail", "staff_verified", "sender_unverified",
        "escalation_by_address", "header_thread"]
    assert "new_ticket" in data["not_reached"]


def test_a_strangers_mail_naming_a_ticket_opens_a_linked_one(
        filled: tuple[Config, str]) -> None:
    config, number = filled
    before = fingerprint(config.data_dir)
    data = decided(config, answer(number, "eve@evil.example"))
    assert unchanged(before, fingerprint(config.data_dir))
    assert data["outcome"] == "new_ticket" and data["ticket"] is None
    assert data["new_ticket"]["related"] == [number]
    subject = next(t for t in data["trace"] if t["step"] == "token_from_subject")
    assert not subject["hit"]
    assert {"step": "sender_not_participant", "hit": True, "kept": True,
            "detail": f"eve@evil.example named {number} in the subject"} in data["trace"]
    # A new ticket's number is drawn when the mail is processed.
    assert data["replies"][0]["subject"] == f"[HS-XXXXXX] Re: [{number}] Printer on fire"


def test_the_same_message_again_is_a_duplicate(filled: tuple[Config, str]) -> None:
    config, _ = filled
    data = decided(config, opening())
    assert data["outcome"] == "duplicate" and data["replies"] == []
    assert [t["step"] for t in data["trace"]] == ["duplicate"]
    assert len(data["not_reached"]) == len(STEPS) - 1


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.eml")), ids=lambda p: p.name)
def test_fixture_mails_leave_the_database_byte_identical(
        filled: tuple[Config, str], path: Path) -> None:
    config, _ = filled
    before = fingerprint(config.data_dir)
    data = decided(config, path.read_bytes(), ("billing@healthsync.com",))
    assert unchanged(before, fingerprint(config.data_dir))
    assert data["trace"] and data["trace"][0]["step"] == "duplicate"
    assert data["outcome"] in {"new_ticket", "automatic", "followup"}
    if data["outcome"] == "new_ticket":
        assert data["queue"] == "billing"  # the envelope, as --rcpt gives it


# -- the command, run as ops run it ---------------------------------------------------------

@pytest.mark.slow
def test_the_command_explains_a_reply_to_our_answer_exactly_as_the_worker_decides(
        tmp_path: Path) -> None:
    inst = Installation(tmp_path)
    first = tmp_path / "first.eml"
    first.write_bytes(opening(sender="ann@example.org"))
    inst.cli("ingest", str(first))
    [ticket] = inst.tickets()
    [ack] = inst.outbound()
    reply = tmp_path / "reply.eml"
    reply.write_bytes(answer(ticket["number"], "ann@example.org", header_of(ack, "Message-ID")))
    data_dir = tmp_path / "data"
    before = fingerprint(data_dir)
    shown = json.loads(inst.cli("decide", str(reply), "--json").stdout)
    text = inst.cli("decide", str(reply)).stdout
    assert unchanged(before, fingerprint(data_dir)) and len(inst.outbound()) == 1
    assert shown["outcome"] == "followup" and shown["ticket"] == ticket["number"]
    assert "hit   header_thread: our_message_id" in text
    assert "miss  token_from_subject: already joins" in text
    assert text.rstrip().endswith("nothing was written and nothing sent")
    inst.cli("ingest", str(reply))  # the real thing stores the trace decide showed
    stored = {f"{e['type']}: {e['detail']}" for e in inst.show(ticket["number"])["events"]}
    kept = {f"{t['step']}: {t['detail']}" for t in shown["trace"] if t["kept"]}
    assert kept and kept <= stored


@pytest.mark.slow
def test_without_a_data_directory_nothing_is_created(tmp_path: Path) -> None:
    inst = Installation(tmp_path)
    message = tmp_path / "m.eml"
    message.write_bytes(opening())
    result = inst.cli("decide", str(message), check=False)
    assert result.returncode == 78 and "no data directory" in result.stderr
    assert not (tmp_path / "data").exists()


@pytest.mark.slow
def test_usage_errors_exit_2(tmp_path: Path) -> None:
    inst = Installation(tmp_path)
    assert inst.cli("decide", check=False).returncode == 2
    missing = inst.cli("decide", str(tmp_path / "nope.eml"), check=False)
    assert missing.returncode == 2 and "not a readable file" in missing.stderr


def test_refused_files_are_named(filled: tuple[Config, str]) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "bo@example.org", "support@healthsync.com", "Logs"
    msg["Message-ID"] = "<logs@example.org>"
    msg.set_content("The logs, zipped.")
    msg.add_attachment(b"PK\x05\x06" + b"\0" * 18, maintype="application", subtype="zip",
                       filename="logs.zip")
    data = decided(filled[0], msg.as_bytes())
    [refused] = data["refused"]
    assert refused["filename"] == "logs.zip" and refused["reason"] != "accepted"
    assert any(e["type"] == "attachment_refused" for e in data["events"])
