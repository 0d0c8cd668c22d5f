"""Issue 18, point 1: a customer address with non-ASCII letters must not stop outbound
delivery for everyone, and nothing is sent twice because a neighbour failed.

Through a real relay (aiosmtpd on 127.0.0.1) with and without SMTPUTF8, fed by `ingest`
and `flush` run as ops run them, on real SQLite files.
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Installation
from tests.outbound_sink import (
    database,
    outbox,
    raw_mail,
    relay,
    relay_config,
    write_mails,
)

JOERG = "jörg@example.org"


def test_a_relay_without_smtputf8_fails_only_the_utf8_row(tmp_path: Path) -> None:
    with relay(smtputf8=False) as (sink, port):
        inst = Installation(tmp_path, extra_config=relay_config(port))
        files = write_mails(
            tmp_path,
            raw_mail("Ann <ann@example.org>", "Printer", "<u1@example.org>"),
            raw_mail(f"Jörg <{JOERG}>", "Drucker", "<u2@example.org>"),
            raw_mail("Bea <bea@example.org>", "Scanner", "<u3@example.org>"),
        )
        inst.cli("ingest", *files, check=False)
        for _ in range(2):  # a second flush finds the dead ingest's leases too
            flushed = inst.cli("flush", check=False)
            assert flushed.returncode == 0, flushed.stderr
            assert flushed.stdout.startswith("sent ")
            assert "Traceback" not in flushed.stderr

        assert [t.rcpt_tos for t in sink.to("ann@example.org")] == [["ann@example.org"]]
        assert [t.rcpt_tos for t in sink.to("bea@example.org")] == [["bea@example.org"]]
        assert sink.to(JOERG) == []
        rows = {r["rcpt_to"]: r for r in outbox(inst)}
        assert rows["ann@example.org"]["status"] == "sent"
        assert rows["bea@example.org"]["status"] == "sent"
        assert rows[JOERG]["status"] == "failed"
        assert rows[JOERG]["last_error"] == \
            f"relay does not offer SMTPUTF8, needed for {JOERG}"
        listed = inst.cli("outbox", "ls").stdout
        assert f"last error: relay does not offer SMTPUTF8, needed for {JOERG}" in listed


def test_a_relay_with_smtputf8_gets_the_utf8_address_intact(tmp_path: Path) -> None:
    # The second mailer wrote the address as Python's generator does without SMTPUTF8:
    # `=?utf-8?q?j=C3=BCrgen?=@example.org` is jürgen's address, not an address to mail.
    with relay(smtputf8=True) as (sink, port):
        inst = Installation(tmp_path, extra_config=relay_config(port))
        files = write_mails(
            tmp_path,
            raw_mail("Ann <ann@example.org>", "Printer", "<v1@example.org>"),
            raw_mail(f"Jörg <{JOERG}>", "Drucker", "<v2@example.org>"),
            raw_mail("=?utf-8?q?J=C3=BCrgen?= <=?utf-8?q?j=C3=BCrgen?=@example.org>",
                     "Scanner", "<v3@example.org>"),
        )
        inst.cli("ingest", *files)
        assert inst.cli("flush").returncode == 0

        [ann] = sink.to("ann@example.org")
        assert not ann.smtputf8  # an ASCII message is sent as before
        for address in (JOERG, "jürgen@example.org"):
            [utf8] = sink.to(address)
            assert utf8.rcpt_tos == [address]
            assert utf8.smtputf8
            assert f"\r\nTo: {address}\r\n".encode() in utf8.data
            assert b"=?utf-8?q?" not in utf8.data.lower().split(b"\r\n\r\n")[0]
        assert {r["status"] for r in outbox(inst)} == {"sent"}
        tickets = {t["requester"] for t in inst.tickets()}
        assert tickets == {"ann@example.org", JOERG, "jürgen@example.org"}


def _old_row(inst: Installation, row_id: int, rcpt: str) -> None:
    """An outbox row as an older version wrote it: nothing checked the address."""
    raw = (f"From: support@healthsync.com\r\nTo: x@example.org\r\nSubject: [HS-000001] hi"
           f"\r\nMessage-ID: <old{row_id}@healthsync.com>\r\n\r\nhello\r\n").encode()
    with database(inst) as db:
        db.execute("INSERT INTO outbox (id, kind, message_id, mail_from, rcpt_to,"
                   " next_attempt_at, created_at) VALUES (?, 'ack', ?, ?, ?, ?, ?)",
                   (row_id, f"<old{row_id}@healthsync.com>", "support@healthsync.com", rcpt,
                    "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"))
        db.execute("INSERT INTO outbox_raw VALUES (?, ?)", (row_id, raw))
    db.close()


def test_an_error_in_one_row_neither_stops_nor_resends_its_neighbours(tmp_path: Path) -> None:
    with relay(smtputf8=True) as (sink, port):
        inst = Installation(tmp_path, extra_config=relay_config(port))
        inst.cli("outbox", "ls")  # creates the database
        _old_row(inst, 1, "ann@example.org")
        _old_row(inst, 2, "bob@example.org\r\nRCPT TO:<eve@example.net>")  # smtplib raises
        _old_row(inst, 3, "bea@example.org")
        for _ in range(2):
            flushed = inst.cli("flush", check=False)
            assert flushed.returncode == 0, flushed.stderr

        assert [t.rcpt_tos for t in sink.received] == [["ann@example.org"],
                                                       ["bea@example.org"]]
        rows = {r["id"]: r for r in outbox(inst)}
        assert [rows[i]["status"] for i in (1, 2, 3)] == ["sent", "failed", "sent"]
        assert rows[2]["last_error"].startswith("not a valid address")


def test_an_address_that_is_not_one_is_stored_failed_and_never_sent(tmp_path: Path) -> None:
    """A ticket whose requester an older version read as an encoded word."""
    with relay(smtputf8=True) as (sink, port):
        inst = Installation(tmp_path, extra_config=relay_config(port))
        inst.cli("ingest", *write_mails(
            tmp_path, raw_mail("Ann <ann@example.org>", "Printer", "<w1@example.org>")))
        [ticket] = inst.tickets()
        bad = "=?utf-8?q?j=c3=b6rg?=@example.org"
        with database(inst) as db:
            db.execute("UPDATE tickets SET requester = ?", (bad,))
            db.execute("UPDATE participants SET address = ?", (bad,))
        db.close()
        body = tmp_path / "answer.txt"
        body.write_text("Fixed.")
        inst.cli("reply", ticket["number"], "--from", "sam@healthsync.com",
                 "--body-file", str(body))
        assert inst.cli("flush").returncode == 0

        [reply] = [r for r in outbox(inst) if r["kind"] == "agent_reply"]
        assert reply["status"] == "failed"
        assert reply["attempts"] == 0  # refused when queued, never handed to the relay
        assert reply["last_error"] == f"an RFC 2047 encoded word is not an address: {bad!r}"
        assert [t.rcpt_tos for t in sink.received] == [["ann@example.org"]]  # the ack only
