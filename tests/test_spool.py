"""The durable spool: states, recovery, damage, and a poisoned message that never blocks."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from maildaemon.spool import Incoming, Spool
from tests.conftest import Installation, mail, wait_until


def test_put_claim_finish(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    ids = spool.put_many([Incoming("a@x.org", ("support@h.com",), b"one"),
                          Incoming(None, (), b"two")])
    assert len(set(ids)) == 2
    first = spool.claim()
    assert first is not None and first.raw == b"one" and first.attempts == 1
    spool.finish(first.id)
    second = spool.claim()
    assert second is not None and second.raw == b"two" and second.mail_from is None
    assert spool.claim() is None  # the only other entry is claimed


def claim_in_a_process_that_dies(data_dir: Path) -> None:
    code = ("import sys; from pathlib import Path; from maildaemon.spool import Spool; "
            "sys.exit(0 if Spool(Path(sys.argv[1]), 2).claim() else 1)")
    subprocess.run([sys.executable, "-c", code, str(data_dir)], check=True)


def test_recover_returns_claimed_work_and_holds_after_max_attempts(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_attempts=2)
    spool.put(Incoming("a@x.org", (), b"crashy"))
    for expected_back in (1, 0):
        claim_in_a_process_that_dies(tmp_path)
        back, held = spool.recover()
        assert (back, held) == (expected_back, 1 - expected_back)
    [row] = spool.rows()
    assert row.state == "held" and "died" in row.error


def test_recover_leaves_work_of_a_live_process_alone(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.put(Incoming("a@x.org", (), b"being handled by an ingest right now"))
    assert spool.claim() is not None  # this process is alive
    assert Spool(tmp_path).recover() == (0, 0)
    assert spool.rows()[0].state == "claimed"


def test_release_holds_after_max_attempts_with_the_error(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_attempts=3)
    spool.put(Incoming("a@x.org", (), b"bad"))
    states = []
    for _ in range(3):
        entry = spool.claim()
        assert entry is not None
        states.append(spool.release(entry.id, "boom"))
    assert states == ["pending", "pending", "held"]
    [row] = spool.rows("held")
    assert row.error == "failed 3 times; last error: boom"
    assert spool.retry(row.spool_id)
    assert spool.claim() is not None


def test_damaged_entry_is_held_never_processed(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.put(Incoming("a@x.org", (), b"original bytes"))
    spool.put(Incoming("b@x.org", (), b"fine"))
    with sqlite3.connect(tmp_path / "spool.sqlite3") as conn:
        conn.execute("UPDATE bodies SET raw = ? WHERE entry_id = 1", (b"tampered bytes",))
    entry = spool.claim()
    assert entry is not None and entry.raw == b"fine"
    [held] = spool.rows("held")
    assert "damaged" in held.error


@pytest.mark.slow
def test_a_message_failing_three_times_is_held_and_blocks_nothing(
    daemon: Installation,
) -> None:
    db = daemon.tmp / "data" / "maildaemon.sqlite3"
    assert daemon.tickets() == []  # the database and its tables exist
    with sqlite3.connect(db) as conn:  # a fault inside the real database, for one message
        conn.execute(
            "CREATE TRIGGER poison BEFORE INSERT ON messages WHEN NEW.subject = 'poison' "
            "BEGIN SELECT RAISE(ABORT, 'injected fault'); END"
        )
    daemon.send(mail(sender="poison@example.org", subject="poison"))
    daemon.send(mail(sender="healthy@example.org", subject="healthy"))

    def held() -> list[dict[str, object]]:
        rows = json.loads(daemon.cli("spool", "ls", "--json").stdout)
        return [r for r in rows if r["state"] == "held"]

    [row] = wait_until(held, 20, "the poisoned message to be held")
    assert row["attempts"] == 3 and "failed 3 times" in str(row["error"])
    assert "injected fault" in str(row["error"])
    wait_until(lambda: [t["subject"] for t in daemon.tickets()] == ["healthy"])

    with sqlite3.connect(db) as conn:
        conn.execute("DROP TRIGGER poison")
    daemon.cli("spool", "retry", str(row["spool_id"]))
    daemon.wait_processed(2)
    assert sorted(t["subject"] for t in daemon.tickets()) == ["healthy", "poison"]
