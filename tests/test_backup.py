"""Issue 14, `maildaemon backup DEST` and restoring it as the README says (backup.py): a data
directory with tickets, stored files and a held message copied, the copy put in place of
another installation's data directory, and every ticket, file and message there again; then
the same while a real `serve` is receiving mail over SMTP, restored into a second `serve`."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import pty
import shutil
import sqlite3
import stat
import struct
import subprocess
import sys
import termios
import threading
from email.message import EmailMessage
from pathlib import Path

import pytest

from maildaemon.config import load_config
from maildaemon.spool import Incoming, Spool
from maildaemon.store import open_reads
from maildaemon.views import ticket_json
from tests.conftest import DOMAIN, Installation, mail, wait_until

BIG = 5_000_000


def pdf(size: int, seed: str) -> bytes:
    """A PDF as libmagic sees one, `size` bytes of varied content (no two alike)."""
    body = hashlib.sha256(seed.encode()).digest() * (size // 32 + 1)
    return b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + body[:size]


def with_file(subject: str, sender: str, data: bytes, name: str) -> EmailMessage:
    """As Gmail sends a message with a PDF attached."""
    msg = mail(subject, sender=sender, body="Anbei der Befund.\n")
    msg.add_attachment(data, maintype="application", subtype="pdf", filename=name)
    return msg


def restore(backup: Path, tmp: Path) -> Installation:
    """README, "Backup and restore": the copy in place of an (empty) data directory."""
    tmp.mkdir()
    target = Installation(tmp, max_message_size=BIG)
    shutil.copytree(backup, tmp / "data")  # cp -a DEST /var/lib/maildaemon
    return target


def check_copy(backup: Path) -> None:
    assert stat.S_IMODE(backup.stat().st_mode) == 0o700
    names = {p.name for p in backup.rglob("*")}
    assert {"maildaemon.sqlite3", "spool.sqlite3", "secret.key"} <= names
    assert not [n for n in names if n.endswith(("-wal", "-shm", ".tmp", ".heartbeat"))]
    for path in backup.rglob("*"):
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600)
    for name in ("maildaemon.sqlite3", "spool.sqlite3"):
        with sqlite3.connect(backup / name) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def one_ticket(inst: Installation) -> None:
    """A data directory as a day of mail leaves it: databases, key, a stored file."""
    path = inst.tmp / "one.eml"
    path.write_bytes(bytes(with_file("Scan", "kim@example.kr", pdf(1_100_000, "one"),
                                     "scan.pdf")))
    inst.cli("ingest", str(path))


def attachment_bytes(inst: Installation, number: str, n: int) -> bytes:
    result = subprocess.run(
        [sys.executable, "-m", "maildaemon", "--config", str(inst.config), "attachment",
         number, str(n), "--output", "-"], capture_output=True, check=True, timeout=60)
    return result.stdout


def test_backup_restores_tickets_files_key_and_spool(tmp_path: Path) -> None:
    source = Installation(tmp_path, max_message_size=BIG)
    big, small = pdf(1_500_000, "big"), pdf(20_000, "small")  # a file on disk; in the DB
    paths = []
    for n, msg in enumerate([with_file("Befund", "juergen@example.de", big, "Befund.pdf"),
                             with_file("Invoice", "ann@example.com", small, "inv.pdf"),
                             mail("Não consigo entrar", sender="ana@example.pt")]):
        paths.append(tmp_path / f"m{n}.eml")
        paths[-1].write_bytes(bytes(msg))
    source.cli("ingest", *map(str, paths))
    assert list((tmp_path / "data" / "attachments").rglob("*"))  # the big one is a file
    spool = Spool(tmp_path / "data")
    held = spool.put(Incoming("x@example.org", (f"support@{DOMAIN}",), b"Subject: x\r\n"))
    for _ in range(3):
        entry = spool.claim(held)
        assert entry is not None
        spool.release(entry.id, "boom")
    spool.close()

    backup = tmp_path / "backup"
    result = source.cli("backup", str(backup))
    assert f"in {backup}: 2 databases" in result.stdout
    assert "not copied" not in result.stderr  # the maildir is outside this data directory
    check_copy(backup)
    assert (backup / "secret.key").read_bytes() == (tmp_path / "data/secret.key").read_bytes()

    restored = restore(backup, tmp_path / "restored")
    before, after = source.tickets(), restored.tickets()
    assert after == before and len(after) == 3
    for ticket in before:
        assert restored.show(ticket["number"]) == source.show(ticket["number"])
        assert restored.cli("raw", ticket["number"]).stdout == \
            source.cli("raw", ticket["number"]).stdout
    numbers = {t["subject"]: t["number"] for t in after}
    assert attachment_bytes(restored, numbers["Befund"], 1) == big
    assert attachment_bytes(restored, numbers["Invoice"], 1) == small
    spooled = json.loads(restored.cli("spool", "ls", "--json").stdout)
    assert [(r["spool_id"], r["state"]) for r in spooled] == [(held, "held")]


@pytest.mark.slow
def test_a_claim_in_the_backup_is_pending_in_the_restored_copy(tmp_path: Path) -> None:
    """A message the worker was processing when the copy was taken: its claim names a
    process of the old installation (here this test's own, alive), which the restored one
    would never take back; the copy has it pending, and the restored worker processes it."""
    source = Installation(tmp_path)
    first = tmp_path / "first.eml"
    first.write_bytes(bytes(mail("Erste Frage", sender="kai@example.de")))
    source.cli("ingest", str(first))  # a data directory with its databases
    spool = Spool(tmp_path / "data")
    busy = spool.put(Incoming("kai@example.de", (f"support@{DOMAIN}",),
                              bytes(mail("Mitten in der Arbeit", sender="kai@example.de"))))
    assert spool.claim(busy) is not None  # claimed by this (living) process
    spool.close()
    backup = tmp_path / "backup"
    source.cli("backup", str(backup))
    restored = restore(backup, tmp_path / "restored")
    spooled = json.loads(restored.cli("spool", "ls", "--json").stdout)
    assert [(r["spool_id"], r["state"]) for r in spooled] == [(busy, "pending")]
    restored.start()
    try:
        restored.wait_spool_empty(60)
        assert sorted(t["subject"] for t in restored.tickets()) == \
            ["Erste Frage", "Mitten in der Arbeit"]
    finally:
        restored.kill()


def test_backup_refuses_a_used_or_nested_destination(tmp_path: Path) -> None:
    installation = Installation(tmp_path, max_message_size=BIG)
    nothing = installation.cli("backup", str(tmp_path / "first"), check=False)
    assert nothing.returncode == 1 and "nothing to back up" in nothing.stderr
    one_ticket(installation)
    used = installation.tmp / "used"
    used.mkdir()
    (used / "old.txt").write_text("x")
    inside = installation.tmp / "data" / "backup"
    for dest, reason in ((used, "exists and is not an empty directory"),
                         (inside, "is inside the data directory")):
        result = installation.cli("backup", str(dest), check=False)
        assert result.returncode == 2 and reason in result.stderr
    assert not inside.exists()
    empty = installation.tmp / "empty"
    empty.mkdir()
    installation.cli("backup", str(empty))
    check_copy(empty)


def test_a_terminal_gets_a_progress_bar(tmp_path: Path) -> None:
    installation = Installation(tmp_path, max_message_size=BIG)
    one_ticket(installation)
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    try:
        result = subprocess.run(
            [sys.executable, "-m", "maildaemon", "--config", str(installation.config),
             "backup", str(installation.tmp / "bk")],
            stdout=subprocess.PIPE, stderr=follower, timeout=60, check=False)
        os.close(follower)
        follower = -1
        drawn = b""
        for _ in range(1000):  # bounded: the child has exited, its output is buffered
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        if follower >= 0:
            os.close(follower)
        os.close(leader)
    assert result.returncode == 0
    assert b"files: 100%|" in drawn


def load_pdf(n: int) -> bytes:
    """The n-th file of the load: every fifth one large enough to be stored as a file."""
    return pdf(1_200_000 if n % 5 == 0 else 3_000, f"load{n}")


@pytest.mark.slow
def test_backup_under_load_restores_into_a_working_daemon(tmp_path: Path) -> None:
    (tmp_path / "source").mkdir()
    source = Installation(tmp_path / "source", max_message_size=BIG)
    source.start()
    try:
        accepted: list[str] = []  # subjects that got their 250, in order
        stop = threading.Event()

        def send(n: int) -> None:
            source.send(with_file(f"Load {n}", f"sender{n}@example.org", load_pdf(n),
                                  f"{n}.pdf"))
            accepted.append(f"Load {n}")

        for n in range(10):
            send(n)

        def keep_sending() -> None:
            for n in range(10, 400):  # bounded
                if stop.is_set():
                    return
                send(n)

        sender = threading.Thread(target=keep_sending)
        sender.start()
        wait_until(lambda: len(accepted) >= 15, 30, "mail arriving during the test")
        before_backup = list(accepted)
        backup = tmp_path / "backup"
        result = source.cli("backup", str(backup))
        stop.set()
        sender.join(60)
        assert len(accepted) > len(before_backup)  # mail kept arriving meanwhile
        assert "2 databases" in result.stdout
        check_copy(backup)
    finally:
        source.kill()

    restored = restore(backup, tmp_path / "restored")
    restored.start()
    try:
        restored.wait_spool_empty(240)  # every message with its PDF, on a busy CI machine
        tickets = restored.tickets()
        subjects = [t["subject"] for t in tickets]
        assert len(subjects) == len(set(subjects))  # nothing processed twice
        assert set(before_backup) <= set(subjects)
        reads = open_reads(load_config(restored.config))
        for ticket in tickets:  # every one read in-process; `show` run on a few below
            shown = ticket_json(reads, reads.ticket_row(ticket["number"]))
            n = int(ticket["subject"].split()[1])
            [message] = [m for m in shown["messages"] if m["direction"] == "inbound"]
            assert [(a["filename"], a["sha256"]) for a in message["attachments"]] == \
                [(f"{n}.pdf", hashlib.sha256(load_pdf(n)).hexdigest())]
        for ticket in tickets[:: max(1, len(tickets) // 3)]:
            n = int(ticket["subject"].split()[1])
            assert restored.show(ticket["number"])["subject"] == ticket["subject"]
            assert attachment_bytes(restored, ticket["number"], 1) == load_pdf(n)
        assert restored.send(mail("After the restore")) == {}  # and it takes new mail
        restored.wait_processed(len(tickets) + 1, 30)
    finally:
        restored.kill()
