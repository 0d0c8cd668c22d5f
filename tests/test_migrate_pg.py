"""`maildaemon migrate --to URL` (issue 15, 5): an SQLite installation made by the real
`serve` moves into an empty PostgreSQL database (tests/pg_server.py) and goes on there as
it was: every table's rows, the large files, the HMAC key our Message-IDs are signed with.
What it refuses (a database with rows, a password in the URL, a copy that cannot be made
whole) leaves the target without rows."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from maildaemon.store.blobs import FILE_BYTES
from maildaemon.store.pg import copy, migrations
from maildaemon.store.pg.connection import PgConnection
from tests.conftest import DOMAIN, Installation, acks_to, header_of, mail, wait_until
from tests.outbound_sink import wait_outbox_settled
from tests.pg_server import PgServer
from tests.test_attachments import PDF

LARGE = PDF + b"%" + bytes(range(256)) * ((FILE_BYTES + 4096) // 256)  # a file on SQLite
COUNTED = ("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
           " AND name <> '_sqlite_migrations'")


def sqlite_counts(data_dir: Path) -> dict[str, int]:
    with sqlite3.connect(data_dir / "maildaemon.sqlite3") as conn:
        names = [r[0] for r in conn.execute(COUNTED)]
        return {n: conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}


def pg_counts(url: str, names: list[str]) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return {n: conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0]  # type: ignore
                for n in names}


def migrate(inst: Installation, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "maildaemon", "--config", str(inst.config),
                           "migrate", *args], capture_output=True, text=True, timeout=120,
                          cwd=inst.tmp)


@dataclass
class Moved:
    inst: Installation  # on PostgreSQL now, same data_dir
    url: str
    before: dict[str, Any]  # `tickets --json` and each `show --json`, on SQLite
    counts: dict[str, int]  # on SQLite
    numbers: dict[str, str]  # by requester
    ack: bytes  # a mail of ours about the ticket with the large file
    result: subprocess.CompletedProcess[str]


def commands(inst: Installation) -> dict[str, Any]:
    listed = json.loads(inst.cli("tickets", "--json").stdout)
    return {"tickets": listed, **{t["number"]: inst.show(t["number"]) for t in listed}}


@pytest.fixture(scope="module")
def moved(tmp_path_factory: pytest.TempPathFactory, pg_server: PgServer) -> Moved:
    tmp = tmp_path_factory.mktemp("migrate")
    inst = Installation(tmp, max_message_size=8 * FILE_BYTES)
    inst.start()
    try:
        big = mail(subject="Scan of the pump log", sender="ann@example.org")
        big.add_attachment(LARGE, maintype="application", subtype="pdf", filename="log.pdf")
        inst.send(big)
        inst.send(mail(subject="Login fails", sender="bob@example.org"))
        tickets = inst.wait_processed(2)
        numbers = {t["requester"]: t["number"] for t in tickets}
        answer = tmp / "answer.txt"
        answer.write_text("Please try again now.\n")
        inst.cli("reply", numbers["bob@example.org"], "--from", f"sam@{DOMAIN}",
                 "--body-file", str(answer))
        inst.cli("status", numbers["ann@example.org"], "on_hold", "--note", "waiting on IT")
        inst.cli("customers", "set", "ann@example.org", "premium", "--name", "Ann")
        wait_outbox_settled(inst)
    finally:
        assert inst.stop() == 0
    ack = acks_to(inst, "ann@example.org")[0]  # any mail of ours to her: all are signed
    before, counts = commands(inst), sqlite_counts(tmp / "data")
    url = pg_server.fresh_database()
    result = migrate(inst, "--to", url)
    return Moved(Installation(tmp, max_message_size=8 * FILE_BYTES, database=url), url,
                 before, counts, numbers, ack, result)


@pytest.mark.slow
def test_every_table_arrives_and_is_verified(moved: Moved) -> None:
    assert moved.result.returncode == 0, moved.result.stderr
    assert "verified" in moved.result.stdout
    busy = {n for n, c in moved.counts.items() if c}
    assert {"tickets", "messages", "events", "outbox", "outbox_raw", "raw_messages",
            "attachments", "attachment_data", "processed", "participants", "customers",
            "timeline"} <= busy
    assert pg_counts(moved.url, list(moved.counts)) == moved.counts
    with psycopg.connect(moved.url) as conn:
        paths = conn.execute("SELECT count(*) FROM raw_messages WHERE path IS NOT NULL"
                             " UNION ALL SELECT count(*) FROM attachment_data"
                             " WHERE path IS NOT NULL").fetchall()
        secret = conn.execute("SELECT value FROM installation WHERE name = 'secret'"
                              ).fetchone()
    assert paths == [(0,), (0,)]  # every byte in the database, none left in files
    key = (moved.inst.tmp / "data" / "secret.key").read_text().strip()
    assert secret == (key,)


@pytest.mark.slow
def test_the_commands_say_on_postgresql_what_they_said_on_sqlite(moved: Moved) -> None:
    assert moved.result.returncode == 0, moved.result.stderr
    assert commands(moved.inst) == moved.before
    number = moved.numbers["ann@example.org"]
    out = moved.inst.tmp / "log-from-pg.pdf"
    moved.inst.cli("attachment", number, "1", "--output", str(out))
    assert out.read_bytes() == LARGE


@pytest.mark.slow
def test_serve_on_postgresql_threads_replies_onto_the_moved_tickets(moved: Moved) -> None:
    """By our signed Message-ID alone (the HMAC key came along) and by the customer's own
    Message-ID (the received-message lookup): no ticket number in either subject."""
    assert moved.result.returncode == 0, moved.result.stderr
    ann, bob = moved.numbers["ann@example.org"], moved.numbers["bob@example.org"]
    [bob_first] = [m for m in moved.before[bob]["messages"] if m["direction"] == "inbound"]
    moved.inst.start()
    try:
        moved.inst.send(mail(subject="Re: your message", sender="ann@example.org",
                             In_Reply_To=header_of(moved.ack, "Message-ID")))
        moved.inst.send(mail(subject="one more thing", sender="bob@example.org",
                             References=bob_first["message_id"]))
        moved.inst.wait_spool_empty(30)

        def inbound(number: str) -> int:
            return sum(m["direction"] == "inbound" for m in moved.inst.show(number)["messages"])
        wait_until(lambda: inbound(ann) == 2 and inbound(bob) == 2, 20, "both replies")
        assert len(moved.inst.tickets()) == 2  # no new ticket: both threaded
    finally:
        assert moved.inst.stop() == 0


def ingested(tmp: Path, large: bool = False) -> Installation:
    """An SQLite installation made by `ingest` (no serve): one ticket, its large message a
    file under data_dir when `large`."""
    inst = Installation(tmp, max_message_size=8 * FILE_BYTES)
    msg = mail(subject="Pump alarm", sender="cat@example.org")
    if large:
        msg.add_attachment(LARGE, maintype="application", subtype="pdf", filename="l.pdf")
    (tmp / "in.eml").write_bytes(bytes(msg))
    inst.cli("ingest", str(tmp / "in.eml"))
    return inst


def test_a_target_with_rows_is_refused_and_left_as_it_was(tmp_path: Path,
                                                          pg_server: PgServer) -> None:
    inst = ingested(tmp_path)
    url = pg_server.fresh_database()
    first = migrate(inst, "--to", url)
    assert first.returncode == 0, first.stderr
    counts = sqlite_counts(tmp_path / "data")
    assert pg_counts(url, list(counts)) == counts
    again = migrate(inst, "--to", url)
    assert again.returncode == 78
    assert "not empty" in again.stderr and "tickets" in again.stderr
    assert pg_counts(url, list(counts)) == counts  # nothing doubled

    other = pg_server.fresh_database()  # one customer row is enough to refuse
    (tmp_path / "node").mkdir()
    Installation(tmp_path / "node", database=other).cli("customers", "set", "d@example.org",
                                                        "plus")
    refused = migrate(inst, "--to", other)
    assert refused.returncode == 78 and "customers" in refused.stderr
    assert pg_counts(other, ["tickets", "customers"]) == {"tickets": 0, "customers": 1}


def test_a_password_in_the_url_is_refused(tmp_path: Path) -> None:
    inst = ingested(tmp_path)
    result = migrate(inst, "--to", "postgresql://maildaemon:s3cret@127.0.0.1:9/maildaemon")
    assert result.returncode == 78
    assert "must not hold the password" in result.stderr and "s3cret" not in result.stderr
    assert "--password-file" in result.stderr
    unreadable = migrate(inst, "--to", "postgresql://maildaemon@127.0.0.1:9/maildaemon",
                         "--password-file", str(tmp_path / "no-such-file"))
    assert unreadable.returncode == 78 and "--password-file: cannot read" in unreadable.stderr
    refused = migrate(inst, "--to", "postgresql://maildaemon@127.0.0.1:9/maildaemon")
    assert refused.returncode == 78 and "cannot connect" in refused.stderr


def test_a_copy_that_cannot_be_made_whole_keeps_nothing(tmp_path: Path,
                                                        pg_server: PgServer) -> None:
    """A large message's file gone from data_dir: exit 65, and the target has no rows
    (the schema only), so migrate can run again once the file is back."""
    inst = ingested(tmp_path, large=True)
    [kept] = list((tmp_path / "data" / "raw").rglob("*.eml"))
    kept.rename(tmp_path / "aside.eml")
    url = pg_server.fresh_database()
    result = migrate(inst, "--to", url)
    assert result.returncode == 65 and "missing" in result.stderr, result.stderr
    counts = sqlite_counts(tmp_path / "data")
    assert set(pg_counts(url, list(counts)).values()) == {0}
    (tmp_path / "aside.eml").rename(kept)
    again = migrate(inst, "--to", url)
    assert again.returncode == 0, again.stderr
    assert pg_counts(url, list(counts)) == counts


def test_a_count_that_differs_is_named(pg_server: PgServer) -> None:
    pg = PgConnection.open(pg_server.fresh_database())
    try:
        migrations.apply(pg)
        with pytest.raises(copy.Mismatch, match="table events: 3 rows in SQLite, 0 in"):
            copy.verify(pg, {"tickets": 0, "events": 3}, 0)
        with pytest.raises(copy.Mismatch, match="bytes"):
            copy.verify(pg, {"tickets": 0}, 10)
    finally:
        pg.close()
