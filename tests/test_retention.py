"""Retention (issue 13, point 8): `maildaemon purge --closed-before DATE` and `[storage]
retention_days` in the sweep remove closed tickets' messages, raw bytes, files and events,
and leave a tombstone row (number, dates, queue) so numbers are never reused."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

from maildaemon.store import Store
from tests.conftest import Installation, mail
from tests.test_attachments import PDF

MIB = 1024 * 1024
NOW = datetime.now(UTC)
SECRET_WORDS = "my-diagnosis-is-zebra-fever-4711"  # in the body, so in every copy we keep


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def with_files(sender: str, big: bytes, subject: str = "Lab results") -> EmailMessage:
    """A message over 1 MB (its raw bytes a file) with a PDF over 1 MB (a file too) and a
    small one (kept in SQLite)."""
    msg = mail(sender=sender, subject=subject, body=f"Hello, {SECRET_WORDS}.")
    msg.add_attachment(big, maintype="application", subtype="pdf", filename="scan.pdf")
    msg.add_attachment(PDF + b"%small", maintype="application", subtype="pdf",
                       filename="small.pdf")
    return msg


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()
            and p.parts[len(root.parts)] in ("raw", "attachments")}


def database_bytes(inst: Installation) -> bytes:
    data = inst.tmp / "data"
    return b"".join(p.read_bytes() for p in data.glob("maildaemon.sqlite3*"))


def close(inst: Installation, number: str, at: datetime) -> None:
    inst.cli("status", number, "closed", "--now", stamp(at))


def test_purge_leaves_a_tombstone_and_nothing_of_the_content(tmp_path: Path) -> None:
    inst = Installation(tmp_path, max_message_size=8 * MIB)
    big = PDF + b"%" + b"1" * (MIB + 100)
    inst.cli("ingest", "-", stdin=bytes(with_files("pat@example.org", big)))
    # Another ticket with the same large file: its copy must survive the purge.
    inst.cli("ingest", "-", stdin=bytes(with_files("lee@example.org", big, "Same scan")))
    pat, lee = sorted(inst.tickets(), key=lambda t: t["requester"] != "pat@example.org")
    before = inst.show(pat["number"])
    assert before["messages"] and files_under(tmp_path / "data")
    close(inst, pat["number"], NOW - timedelta(days=40))

    refused = inst.cli("purge", "--closed-before", stamp(NOW + timedelta(days=1)),
                       check=False)
    assert refused.returncode == 2 and "future" in refused.stderr
    assert inst.cli("purge", "--closed-before", "soon", check=False).returncode == 2
    dry = inst.cli("purge", "--closed-before", (NOW - timedelta(days=30)).date().isoformat(),
                   "--dry-run").stdout
    assert pat["number"] in dry and lee["number"] not in dry
    assert inst.show(pat["number"])["messages"]  # a dry run changes nothing

    raw_files = {f for f in files_under(tmp_path / "data") if f.startswith("raw/")}
    out = inst.cli("purge", "--closed-before", (NOW - timedelta(days=30)).date().isoformat())
    assert "purged 1 tickets" in out.stdout and pat["number"] in out.stdout

    tomb = inst.show(pat["number"])
    assert tomb["messages"] == [] and tomb["participants"] == []
    assert [e["type"] for e in tomb["events"]] == ["purged"]
    assert (tomb["subject"], tomb["requester"]) == ("", "")
    assert tomb["purged_at"] is not None and tomb["status"] == "closed"
    for kept in ("number", "queue", "created_at", "tier", "priority"):
        assert tomb[kept] == before[kept]
    assert pat["number"] in [t["number"] for t in inst.tickets()]  # the number stays taken
    assert inst.cli("raw", pat["number"], check=False).returncode == 1
    assert inst.cli("attachment", pat["number"], "1", "--output", "-",
                    check=False).returncode == 1
    # Its raw file went; the large PDF stays, the other ticket still has it.
    left = files_under(tmp_path / "data")
    assert len(raw_files - left) == 1
    assert inst.cli("attachment", lee["number"], "1", "--output", "-").returncode == 0
    db = sqlite3.connect(tmp_path / "data" / "maildaemon.sqlite3")
    assert db.execute("SELECT count(*) FROM purged_files").fetchone()[0] == 0
    db.close()
    # Deleted pages are overwritten and checkpointed: the words are nowhere in the file
    # but in the other ticket's message.
    assert database_bytes(inst).count(SECRET_WORDS.encode()) <= 2  # lee's text and own text

    again = inst.cli("purge", "--closed-before", (NOW - timedelta(days=30)).date().isoformat())
    assert "purged 0 tickets" in again.stdout
    # No command acts on a tombstone; mail naming it opens a new ticket that names nothing.
    assert inst.cli("status", pat["number"], "open", check=False).returncode == 1
    reply = mail(sender="pat@example.org", subject=f"Re: [{pat['number']}] Lab results",
                 body="Any news?")
    inst.cli("ingest", "-", stdin=bytes(reply))
    newest = [t for t in inst.tickets() if t["number"] not in (pat["number"], lee["number"])]
    assert len(newest) == 1 and newest[0]["related"] == []
    assert inst.show(pat["number"])["messages"] == []


def test_the_sweep_purges_after_retention_days(tmp_path: Path) -> None:
    inst = Installation(tmp_path)
    # [storage] is written by the fixture; the key goes into that table.
    text = inst.config.read_text().replace("[storage]\n", "[storage]\nretention_days = 30\n")
    inst.config.write_text(text)
    inst.cli("ingest", "-", stdin=bytes(mail(sender="kim@example.org", body=SECRET_WORDS)))
    [ticket] = inst.tickets()
    closed = NOW - timedelta(days=1)
    close(inst, ticket["number"], closed)
    early = inst.cli("sweep", "--now", stamp(closed + timedelta(days=29))).stdout
    assert "purged" not in early and inst.show(ticket["number"])["messages"]
    late = inst.cli("sweep", "--now", stamp(closed + timedelta(days=31))).stdout
    assert "1 purged" in late, late
    assert inst.show(ticket["number"])["purged_at"] is not None
    assert "purged" not in inst.cli("sweep", "--now", stamp(closed + timedelta(days=32))).stdout


def test_a_ticket_that_is_not_closed_is_never_purged(tmp_path: Path) -> None:
    inst = Installation(tmp_path)
    inst.cli("ingest", "-", stdin=bytes(mail(sender="ann@example.org")))
    [ticket] = inst.tickets()
    close(inst, ticket["number"], NOW - timedelta(days=60))
    inst.cli("status", ticket["number"], "open", "--now", stamp(NOW - timedelta(days=59)))
    out = inst.cli("purge", "--closed-before", stamp(NOW - timedelta(days=1))).stdout
    assert "purged 0 tickets" in out
    assert inst.show(ticket["number"])["messages"]


def test_a_table_added_later_that_names_a_ticket_is_purged_too(tmp_path: Path) -> None:
    """Rows are found by the foreign keys, so a new table cannot keep a purged ticket's
    content (nor make the purge fail on its key)."""
    inst = Installation(tmp_path)
    inst.cli("ingest", "-", stdin=bytes(mail(sender="bo@example.org")))
    [ticket] = inst.tickets()
    close(inst, ticket["number"], NOW - timedelta(days=60))
    store = Store(tmp_path / "data")
    store.conn.executescript(
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, ticket_id INTEGER NOT NULL"
        " REFERENCES tickets(id), text TEXT);"
        "CREATE TABLE note_tags (note_id INTEGER REFERENCES notes(id), tag TEXT);")
    store.conn.execute("INSERT INTO notes VALUES (1, (SELECT id FROM tickets), 'secret')")
    store.conn.execute("INSERT INTO note_tags VALUES (1, 'x')")
    purged = store.purge(store.purgeable(NOW, 10), NOW)
    assert purged.numbers == (ticket["number"],)
    assert store.conn.execute("SELECT count(*) FROM notes").fetchone()[0] == 0
    assert store.conn.execute("SELECT count(*) FROM note_tags").fetchone()[0] == 0
    store.close()


def test_files_named_before_a_crash_are_removed_by_the_next_purge(tmp_path: Path) -> None:
    store = Store(tmp_path / "data")
    left = tmp_path / "data" / "raw" / "ab" / "ab00.eml"
    left.parent.mkdir(parents=True)
    left.write_bytes(b"bytes of a purged message")
    store.conn.execute("INSERT INTO purged_files VALUES ('raw/ab/ab00.eml')")
    assert store.purge([], NOW).files == 1
    assert not left.exists()
    store.close()


def test_retention_days_is_checked(tmp_path: Path) -> None:
    inst = Installation(tmp_path)
    text = inst.config.read_text()
    inst.config.write_text(text.replace("[storage]\n", "[storage]\nretention_days = -1\n"))
    result = inst.cli("check-config", check=False)
    assert result.returncode == 78 and "storage.retention_days" in result.stderr
    inst.config.write_text(text.replace("[storage]\n", "[storage]\nretention_days = 365\n"))
    shown = inst.cli("check-config").stdout
    assert json.loads(shown[shown.index("{"):])["storage"]["retention_days"] == 365
